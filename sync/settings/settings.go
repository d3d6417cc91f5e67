// Package settings describes the settings of a source kind once, so that the command line
// (`custody sources add/edit`), the GUI's Sources form and `custody sources list` are all made
// from the same description. A driver package owns its kind's description (its Describe
// method); nothing else lists a kind's settings. Build and Apply turn values given by flag name
// into a checked store.Source, the same for the command line and the form; Show renders a
// source's settings for people, never a secret.
package settings

import (
	"time"

	"custody/store"
)

// Type is what kind of value a setting holds; it decides the flag and the form widget.
type Type int

// The types of setting.
const (
	Text     Type = iota // one line of text: a flag --name VALUE, an entry
	URL                  // an https URL (checked): a flag, an entry
	File                 // a path to a file that must exist: a flag, an entry with a file picker
	List                 // several values: a repeatable flag (also comma separated), a multi-line entry
	Bool                 // on or off: a boolean flag, a check box; stored as its On value or absent
	Choice               // one of Choices: a flag, a select
	Duration             // a Go duration such as 15m: a flag, an entry
	Secret               // kept in the keyring only, never in Config: read from stdin or a prompt, a password entry
)

// Setting is one setting of a source kind.
type Setting struct {
	// Key is the key in store.Source.Config (for a Secret, the keyring field), such as "base_url".
	Key string
	// Flag is the command-line flag without dashes, such as "base-url". A Secret has none: it
	// is read with --secret-stdin or a prompt.
	Flag string
	// Label is the form's label, such as "Token URL".
	Label string
	// Hint says what to give, in a few words; it is the flag's usage and the form's hint.
	Hint string
	// Type is what the value is.
	Type Type
	// Required settings must be given.
	Required bool
	// Default is the value used when none is given; it is shown, not stored, and a value equal
	// to it is not stored either, so that a source keeps only what differs.
	Default string
	// Choices are the values a Choice setting allows.
	Choices []string
	// On is the Config value a Bool setting stores when it is on ("true" when empty), such as
	// "none" for --no-subscription, stored as subscription=none.
	On string
	// Link, when set, is the address where the value is made or found (such as the portal
	// where a token is made); the form shows it as a link.
	Link string
	// Advanced settings are shown folded in the form.
	Advanced bool
	// Check, when set, checks one given value (each value of a List) beyond what Type checks,
	// and returns it in the form to store (such as "7" for "007").
	Check func(value string) (string, error)
	// NeededBy, when set on a Required Secret, says whether a source with these settings (and
	// these files imported into the keyring, by field) needs it: an Open Banking source that
	// authenticates with private_key_jwt has no client secret, and only an encrypted signing
	// key has a passphrase. Nil: every source does.
	NeededBy func(src store.Source, imported map[string]string) bool
	// Import, set on a File setting, is the keyring field the file's contents go to: the
	// file is read once, when it is given, and Config keeps only "true" (see Imports).
	Import string
}

// Needed reports whether a source with src's settings and imported files needs this Secret
// setting given.
func (s Setting) Needed(src store.Source, imported map[string]string) bool {
	return s.Required && (s.NeededBy == nil || s.NeededBy(src, imported))
}

// OnValue is the Config value of a Bool setting that is on.
func (s Setting) OnValue() string {
	if s.On == "" {
		return "true"
	}
	return s.On
}

// Kind describes one source kind: its name, what it is for, and its settings.
type Kind struct {
	// Name is the kind as the command line and the store spell it, such as "greenbutton".
	Name string
	// Title is how a person calls it, such as "Green Button (ESPI)".
	Title string
	// Settings are the kind's settings in the order the form and the help show them.
	Settings []Setting
	// Check, when set, checks the whole source after every setting passed its own checks, for
	// rules between settings (such as "--cert and --key go together").
	Check func(src store.Source) error
	// CheckSecrets, when set, checks what is about to go to the keyring (the secrets given and
	// the files imported, by field) before anything is stored, such as that a passphrase opens
	// the signing key.
	CheckSecrets func(src store.Source, keep map[string]string) error
	// CheckSecret, when set, checks a secret when it is entered (key is its keyring field) and
	// returns non-secret settings read from it, stored with the source: such as the day a
	// refresh token that is a JWT expires. It never returns the secret or part of it.
	CheckSecret func(key, value string) (map[string]string, error)
}

// DefaultInterval is how often a source is synced when neither its settings nor its kind say.
const DefaultInterval = time.Hour

// SyncInterval is how often src, a source of this kind, is synced: its interval setting when
// that is a valid positive duration, else the kind's default, the Default of its interval
// setting (see Common), which the form and the help show; else DefaultInterval.
func (k Kind) SyncInterval(src store.Source) time.Duration {
	if d, ok := positiveDuration(src.Config[KeyInterval]); ok {
		return d
	}
	for _, s := range k.Settings {
		if s.Key == KeyInterval {
			if d, ok := positiveDuration(s.Default); ok {
				return d
			}
			break
		}
	}
	return DefaultInterval
}

// positiveDuration parses v as a Go duration, reporting whether it is one above zero.
func positiveDuration(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0
}

// ByFlag returns the kind's setting with the given flag name.
func (k Kind) ByFlag(flag string) (Setting, bool) {
	for _, s := range k.Settings {
		if s.Flag == flag && s.Type != Secret {
			return s, true
		}
	}
	return Setting{}, false
}

// Secrets returns the kind's Secret settings (the keyring fields a person gives).
func (k Kind) Secrets() []Setting {
	var out []Setting
	for _, s := range k.Settings {
		if s.Type == Secret {
			out = append(out, s)
		}
	}
	return out
}

// Describer is implemented by every driver: it describes its kind's settings.
type Describer interface {
	Describe() Kind
}
