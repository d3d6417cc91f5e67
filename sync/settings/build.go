package settings

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"custody/store"
)

// Values are settings as a person gave them, keyed by flag name (without dashes): one value,
// or several for a List (each may also be comma separated). A Bool is "true" or "false".
// Secrets are never among them.
type Values map[string][]string

// Build makes a new, enabled source of kind k named name from the given values and checks it
// as Apply does. `custody sources add` and the form's Save both call it.
func Build(k Kind, name string, given Values) (store.Source, error) {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\n") {
		return store.Source{}, fmt.Errorf("source name %q: give a short name without slashes", name)
	}
	return Apply(k, store.Source{Name: name, Kind: k.Name, Enabled: true, Config: map[string]string{}}, given)
}

// Apply changes the given settings of src and leaves the others, then checks the whole
// source: every given flag must be one of the kind's, each value must suit its setting's Type
// and Check, the required settings must be set, and then the kind's Check runs. An empty value
// (or false, for a Bool) removes a setting; a value equal to the setting's Default is not
// stored. src itself is not changed. `custody sources edit` calls it.
func Apply(k Kind, src store.Source, given Values) (store.Source, error) {
	src.Config = maps.Clone(src.Config)
	if src.Config == nil {
		src.Config = map[string]string{}
	}
	for _, flag := range slices.Sorted(maps.Keys(given)) {
		s, ok := k.ByFlag(flag)
		if !ok {
			return src, fmt.Errorf("--%s does not apply to a %s source", flag, k.Name)
		}
		if err := s.apply(&src, given[flag]); err != nil {
			return src, err
		}
	}
	var missing []string
	for _, s := range k.Settings {
		if s.Required && s.Type != Secret && src.Config[s.Key] == "" {
			missing = append(missing, "--"+s.Flag)
		}
	}
	if len(missing) > 0 {
		return src, fmt.Errorf("a %s source needs %s", k.Name, strings.Join(missing, ", "))
	}
	if k.Check != nil {
		if err := k.Check(src); err != nil {
			return src, err
		}
	}
	return src, nil
}

// apply sets (or removes) the setting in src from the values given for its flag.
func (s Setting) apply(src *store.Source, given []string) error {
	if s.Type == List {
		var vs []string
		for _, v := range given {
			for p := range strings.SplitSeq(v, ",") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				p, err := s.check(p)
				if err != nil {
					return err
				}
				if !slices.Contains(vs, p) {
					vs = append(vs, p)
				}
			}
		}
		src.SetList(s.Key, vs)
		return nil
	}
	v := ""
	if len(given) > 0 {
		v = strings.TrimSpace(given[len(given)-1]) // the last one given wins, as with any flag
	}
	if s.Type == Bool {
		if v == "" {
			v = "false"
		}
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--%s is true or false, not %q", s.Flag, v)
		}
		if on {
			src.Config[s.Key] = s.OnValue()
		} else {
			delete(src.Config, s.Key)
		}
		return nil
	}
	if v == "" {
		delete(src.Config, s.Key)
		return nil
	}
	if s.Import != "" && v == ImportedValue && src.Config[s.Key] == ImportedValue {
		return nil // the file imported earlier stays in the keyring (an edit that keeps it)
	}
	v, err := s.check(v)
	if err != nil {
		return err
	}
	if s.Import != "" {
		v = ImportedValue // the contents go to the keyring (Imports); the path is not kept
	}
	if v == s.Default {
		delete(src.Config, s.Key)
		return nil
	}
	src.Config[s.Key] = v
	return nil
}

// check checks one value by the setting's Type and then its Check, and returns it as stored.
func (s Setting) check(v string) (string, error) {
	switch s.Type {
	case URL:
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return v, fmt.Errorf("--%s %q is not a URL", s.Flag, v)
		}
		if u.Scheme != "https" {
			return v, fmt.Errorf("--%s %q: only https is allowed, so that credentials never travel in the clear", s.Flag, v)
		}
	case File:
		if _, err := os.Stat(v); err != nil {
			return v, fmt.Errorf("--%s: %w", s.Flag, err)
		}
	case Choice:
		if !slices.Contains(s.Choices, v) {
			return v, fmt.Errorf("--%s must be %s, not %q", s.Flag, orList(s.Choices), v)
		}
	case Duration:
		if _, err := time.ParseDuration(v); err != nil {
			return v, fmt.Errorf("--%s %q: give a duration such as 15m or 6h", s.Flag, v)
		}
	}
	if s.Check != nil {
		out, err := s.Check(v)
		if err != nil {
			return v, fmt.Errorf("--%s %q: %w", s.Flag, v, err)
		}
		v = out
	}
	return v, nil
}

// ImportedValue is what Config keeps for an Import setting whose file went to the keyring.
const ImportedValue = "true"

// maxImport bounds a file imported into the keyring (no keyring item holds more than a few KB).
const maxImport = 64 << 10

// Imports reads the files given for the kind's Import settings and returns what goes to the
// keyring, by field. `custody sources add/edit` and the form store them with the secrets.
func Imports(k Kind, given Values) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range k.Settings {
		if s.Import == "" || len(given[s.Flag]) == 0 {
			continue
		}
		path := strings.TrimSpace(given[s.Flag][len(given[s.Flag])-1])
		if path == "" || path == ImportedValue {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", s.Flag, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxImport+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", s.Flag, err)
		}
		if len(b) > maxImport {
			return nil, fmt.Errorf("--%s %s: larger than %d bytes", s.Flag, path, maxImport)
		}
		out[s.Import] = string(b)
	}
	return out, nil
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// Keys of the settings every kind shares.
const (
	KeyInterval      = "interval"       // how often the source is synced, a Go duration
	KeySecretExpires = "secret_expires" // the day the client secret expires, YYYY-MM-DD
	KeyClientSecret  = "client_secret"  // the keyring field of the OAuth2 client secret
)

// Common returns the settings every kind has: how often it is synced (defaultInterval unless
// given) and when its client secret expires, both advanced.
func Common(defaultInterval time.Duration) []Setting {
	return []Setting{
		{Key: KeyInterval, Flag: "interval", Label: "Sync every", Type: Duration, Advanced: true,
			Hint: "sync interval such as 15m or 6h", Default: shortDuration(defaultInterval),
			Check: func(v string) (string, error) {
				if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
					return v, errors.New("give a duration of at least 1m, such as 15m or 6h")
				}
				return v, nil
			}},
		{Key: KeySecretExpires, Flag: "secret-expires", Label: "Secret expires", Type: Text, Advanced: true,
			Hint: "when the client secret expires (YYYY-MM-DD), to be reminded in time",
			Check: func(v string) (string, error) {
				if _, err := time.Parse("2006-01-02", v); err != nil {
					return v, errors.New("give a date such as 2027-06-30")
				}
				return v, nil
			}},
	}
}

// ClientSecret is the OAuth2 client secret, kept in the keyring under KeyClientSecret.
func ClientSecret() Setting {
	return Setting{Key: KeyClientSecret, Label: "Client secret", Type: Secret, Required: true,
		Hint: "goes straight to the OS keyring"}
}

// shortDuration prints d as a person writes it: 6h rather than 6h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// CheckKinds checks descriptions against each other, for a test of the registered kinds: names
// and keys are unique, every setting but a Secret has a flag, a Choice has choices, and a flag
// used by several kinds has the same Type in each (it is one command-line flag). reserved are
// flags the command line has for itself, such as "db".
func CheckKinds(kinds []Kind, reserved ...string) error {
	types := map[string]Type{}
	names := map[string]bool{}
	for _, k := range kinds {
		if k.Name == "" || names[k.Name] {
			return fmt.Errorf("kind %q: no name, or a name used twice", k.Name)
		}
		names[k.Name] = true
		keys, flags := map[string]bool{}, map[string]bool{}
		for _, s := range k.Settings {
			if s.Key == "" || keys[s.Key] {
				return fmt.Errorf("kind %s: setting %q: no key, or a key used twice", k.Name, s.Label)
			}
			keys[s.Key] = true
			if s.Type == Secret {
				continue
			}
			if s.Flag == "" || flags[s.Flag] || slices.Contains(reserved, s.Flag) {
				return fmt.Errorf("kind %s: setting %s: no flag, a flag used twice, or a reserved flag %q", k.Name, s.Key, s.Flag)
			}
			flags[s.Flag] = true
			if s.Type == Choice && len(s.Choices) == 0 {
				return fmt.Errorf("kind %s: setting %s: a choice without choices", k.Name, s.Key)
			}
			if t, ok := types[s.Flag]; ok && t != s.Type {
				return fmt.Errorf("kind %s: flag --%s has another type in another kind", k.Name, s.Flag)
			}
			types[s.Flag] = s.Type
		}
	}
	return nil
}
