package settings_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/settings"
)

// testKind has one setting of every type, a required one, a default, a Bool stored as "none",
// a normalising Check and a rule between settings.
func testKind() settings.Kind {
	return settings.Kind{
		Name: "fake", Title: "Fake custodian",
		Settings: append([]settings.Setting{
			{Key: "base_url", Flag: "base-url", Label: "API root", Type: settings.URL, Required: true, Hint: "the API root"},
			settings.ClientSecret(),
			{Key: "ids", Flag: "id", Label: "Ids", Type: settings.List, Hint: "an id",
				Check: func(v string) (string, error) {
					if strings.ContainsAny(v, " ") {
						return v, errors.New("no spaces")
					}
					return strings.ToUpper(v), nil
				}},
			{Key: "cert", Flag: "cert", Label: "Certificate", Type: settings.File},
			{Key: "mode", Flag: "mode", Label: "Mode", Type: settings.Choice, Choices: []string{"fast", "slow", "off"}, Default: "fast", Advanced: true},
			{Key: "subscription", Flag: "no-subscription", Label: "Polling only", Type: settings.Bool, On: "none"},
			{Key: "window", Flag: "window", Label: "Window", Type: settings.Duration},
		}, settings.Common(6*time.Hour)...),
		Check: func(src store.Source) error {
			if src.Config["subscription"] == "none" && src.Config["ids"] != "" {
				return errors.New("--id needs a subscription")
			}
			return nil
		},
	}
}

func TestBuild(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := testKind()
	base := settings.Values{"base-url": {"https://api.example/v1"}}
	for _, tt := range []struct {
		name  string
		given settings.Values
		want  map[string]string // the settings beside base_url; nil when refused
		err   string
	}{
		{name: "required only", want: map[string]string{}},
		{name: "missing required", given: settings.Values{"base-url": {""}}, err: "a fake source needs --base-url"},
		{name: "http refused", given: settings.Values{"base-url": {"http://api.example"}}, err: `--base-url "http://api.example": only https is allowed`},
		{name: "not a url", given: settings.Values{"base-url": {"api.example"}}, err: "is not a URL"},
		{name: "not this kind's", given: settings.Values{"follow": {"true"}}, err: "--follow does not apply to a fake source"},
		{name: "list repeated and comma separated, checked and normalised, once each",
			given: settings.Values{"id": {"a, b", "c", "A", ""}}, want: map[string]string{"ids": `["A","B","C"]`}},
		{name: "list value refused", given: settings.Values{"id": {"a b"}}, err: `--id "a b": no spaces`},
		{name: "file that exists", given: settings.Values{"cert": {file}}, want: map[string]string{"cert": file}},
		{name: "file that does not", given: settings.Values{"cert": {file + ".missing"}}, err: "--cert: stat "},
		{name: "choice", given: settings.Values{"mode": {"slow"}}, want: map[string]string{"mode": "slow"}},
		{name: "choice default not stored", given: settings.Values{"mode": {"fast"}}, want: map[string]string{}},
		{name: "choice unknown", given: settings.Values{"mode": {"FAST"}}, err: `--mode must be fast, slow or off, not "FAST"`},
		{name: "bool stored as its value", given: settings.Values{"no-subscription": {"true"}}, want: map[string]string{"subscription": "none"}},
		{name: "bool false", given: settings.Values{"no-subscription": {"false"}}, want: map[string]string{}},
		{name: "bool not a bool", given: settings.Values{"no-subscription": {"maybe"}}, err: `--no-subscription is true or false, not "maybe"`},
		{name: "duration", given: settings.Values{"window": {"48h"}}, want: map[string]string{"window": "48h"}},
		{name: "duration refused", given: settings.Values{"window": {"two days"}}, err: `--window "two days": give a duration`},
		{name: "last single value wins", given: settings.Values{"window": {"1h", "2h"}}, want: map[string]string{"window": "2h"}},
		{name: "interval", given: settings.Values{"interval": {"15m"}}, want: map[string]string{"interval": "15m"}},
		{name: "interval default not stored", given: settings.Values{"interval": {"6h"}}, want: map[string]string{}},
		{name: "interval too short", given: settings.Values{"interval": {"10s"}}, err: `--interval "10s": give a duration of at least 1m`},
		{name: "secret expires", given: settings.Values{"secret-expires": {"2027-06-30"}}, want: map[string]string{"secret_expires": "2027-06-30"}},
		{name: "secret expires not a date", given: settings.Values{"secret-expires": {"June"}}, err: `--secret-expires "June": give a date`},
		{name: "the kind's rule", given: settings.Values{"no-subscription": {"true"}, "id": {"a"}}, err: "--id needs a subscription"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			given := maps.Clone(base)
			maps.Copy(given, tt.given)
			src, err := settings.Build(k, "mine", given)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.Name != "mine" || src.Kind != "fake" || !src.Enabled {
				t.Fatalf("source %+v", src)
			}
			want := maps.Clone(tt.want)
			want["base_url"] = "https://api.example/v1"
			if !maps.Equal(src.Config, want) {
				t.Fatalf("config %v, want %v", src.Config, want)
			}
			// What Build made, ValuesOf gives back as flags that build it again.
			again, err := settings.Build(k, "mine", settings.ValuesOf(k, src))
			if err != nil || !maps.Equal(again.Config, src.Config) {
				t.Fatalf("round trip: %v, %v", again.Config, err)
			}
		})
	}
	for _, name := range []string{"", " ", "a/b", "a\nb"} {
		if _, err := settings.Build(k, name, base); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

// TestApply: an edit changes what is given, keeps the rest, removes what is given empty, and
// never changes the source it was given.
func TestApply(t *testing.T) {
	k := testKind()
	src := store.Source{ID: 7, Name: "mine", Kind: "fake", Enabled: false, Config: map[string]string{
		"base_url": "https://api.example/v1", "window": "1h", "ids": `["A"]`, "interval": "1h"}}
	got, err := settings.Apply(k, src, settings.Values{"window": {"2h"}, "interval": {""}, "no-subscription": {"true"}, "id": {}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"base_url": "https://api.example/v1", "window": "2h", "subscription": "none"}
	if !maps.Equal(got.Config, want) || got.ID != 7 || got.Enabled {
		t.Fatalf("edited: %+v, want config %v", got, want)
	}
	if src.Config["window"] != "1h" || src.Config["interval"] != "1h" {
		t.Fatalf("the original changed: %v", src.Config)
	}
	if _, err := settings.Apply(k, src, settings.Values{"base-url": {""}}); err == nil || err.Error() != "a fake source needs --base-url" {
		t.Fatalf("removing a required setting: %v", err)
	}
}

func TestShowNeverShowsASecret(t *testing.T) {
	k := testKind()
	src := store.Source{Name: "mine", Kind: "fake", Config: map[string]string{
		"base_url": "https://api.example/v1", "ids": `["A","B"]`, "subscription": "none"}}
	var lines []string
	for _, s := range settings.Show(k, src) {
		lines = append(lines, s.Setting.Label+": "+s.Value)
	}
	want := []string{"API root: https://api.example/v1", "Client secret: " + settings.SecretShown, "Ids: A, B",
		"Mode: fast (default)", "Polling only: yes", "Sync every: 6h (default)"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("shown:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestUsage(t *testing.T) {
	k := testKind()
	if got, want := settings.Synopsis(k), "--base-url URL [--id VALUE]... [--cert FILE] [--mode fast|slow|off] [--no-subscription] [--window DURATION] [--interval DURATION] [--secret-expires VALUE]"; got != want {
		t.Errorf("synopsis:\n%s\nwant\n%s", got, want)
	}
	var b bytes.Buffer
	if err := settings.WriteUsage(&b, k); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fake (Fake custodian):", "--base-url URL", "the API root (required)",
		"an id (repeatable, or comma separated)", "(default fast)", "Client secret: read with --secret-stdin or prompted for"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCheckKinds(t *testing.T) {
	k := testKind()
	if err := settings.CheckKinds([]settings.Kind{k}, "db"); err != nil {
		t.Fatal(err)
	}
	other := settings.Kind{Name: "other", Settings: []settings.Setting{{Key: "w", Flag: "window", Type: settings.Text}}}
	for name, kinds := range map[string][]settings.Kind{
		"same name":            {k, k},
		"a flag of two types":  {k, other},
		"a reserved flag":      {{Name: "x", Settings: []settings.Setting{{Key: "d", Flag: "db"}}}},
		"a key twice":          {{Name: "x", Settings: []settings.Setting{{Key: "a", Flag: "a"}, {Key: "a", Flag: "b"}}}},
		"a choice of nothing":  {{Name: "x", Settings: []settings.Setting{{Key: "a", Flag: "a", Type: settings.Choice}}}},
		"a setting of no flag": {{Name: "x", Settings: []settings.Setting{{Key: "a"}}}},
	} {
		if err := settings.CheckKinds(kinds, "db"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzBuild: whatever a person types, Build answers with a source or an error, never a panic,
// and what it accepts passes Build again unchanged.
func FuzzBuild(f *testing.F) {
	f.Add("https://api.example/v1", "a,b", "slow", "true", "48h", "15m")
	f.Add("http://x", " , ", "FAST", "maybe", "-1s", "0")
	k := testKind()
	f.Fuzz(func(t *testing.T, base, ids, mode, poll, window, interval string) {
		given := settings.Values{"base-url": {base}, "id": {ids}, "mode": {mode}, "no-subscription": {poll}, "window": {window}, "interval": {interval}}
		src, err := settings.Build(k, "f", given)
		if err != nil {
			return
		}
		again, err := settings.Build(k, "f", settings.ValuesOf(k, src))
		if err != nil || !maps.Equal(again.Config, src.Config) {
			t.Fatalf("%v gave %v, and again %v, %v", given, src.Config, again.Config, err)
		}
	})
}

// TestSyncInterval: a source is synced as often as its own interval setting says when that is
// a positive duration, else as its kind's interval setting shows by default (the one place a
// kind states it), else every DefaultInterval.
func TestSyncInterval(t *testing.T) {
	k := testKind()
	none := settings.Kind{Name: "bare"}
	for _, tt := range []struct {
		name    string
		kind    settings.Kind
		setting string
		want    time.Duration
	}{
		{"the kind's default, from its interval setting", k, "", 6 * time.Hour},
		{"the source's own wins", k, "15m", 15 * time.Minute},
		{"the source's own wins even when longer", k, "24h", 24 * time.Hour},
		{"nonsense: the kind's default", k, "soon", 6 * time.Hour},
		{"zero: the kind's default", k, "0s", 6 * time.Hour},
		{"negative: the kind's default", k, "-5m", 6 * time.Hour},
		{"a kind with no interval setting", none, "", settings.DefaultInterval},
		{"a kind with no interval setting, the source's own", none, "10m", 10 * time.Minute},
		{"a kind whose interval setting shows nothing usable", settings.Kind{Name: "odd", Settings: settings.Common(0)}, "", settings.DefaultInterval},
	} {
		src := store.Source{Name: "s", Kind: tt.kind.Name, Config: map[string]string{}}
		if tt.setting != "" {
			src.Config[settings.KeyInterval] = tt.setting
		}
		if got := tt.kind.SyncInterval(src); got != tt.want {
			t.Errorf("%s: SyncInterval = %v, want %v", tt.name, got, tt.want)
		}
	}
	// The kind's default is what its interval setting shows: change what Common is given and
	// the kind's default follows.
	if got := (settings.Kind{Name: "q", Settings: settings.Common(90 * time.Minute)}).SyncInterval(store.Source{}); got != 90*time.Minute {
		t.Errorf("a kind showing 1h30m syncs every %v", got)
	}
}
