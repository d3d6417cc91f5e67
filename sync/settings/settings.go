// Package settings describes the settings of a source kind once, so that the command line
// (`custody sources add/edit`), the GUI's Sources form and `custody sources list` are all made
// from the same description. A driver package owns its kind's description (its Describe
// method); nothing else lists a kind's settings. Build and Apply turn values given by flag name
// into a checked store.Source, the same for the command line and the form; Show renders a
// source's settings for people, never a secret.
package settings

import (
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
	// Advanced settings are shown folded in the form.
	Advanced bool
	// Check, when set, checks one given value (each value of a List) beyond what Type checks,
	// and returns it in the form to store (such as "7" for "007").
	Check func(value string) (string, error)
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
