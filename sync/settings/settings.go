// Package settings describes the settings of a source kind once, so that the command line
// (`custody sources add/edit`), the GUI's Sources form and `custody sources list` are all made
// from the same description. A driver package owns its kind's description; nothing else lists
// a kind's settings.
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
	Bool                 // on or off: a boolean flag, a check box; stored as "true" or absent
	Choice               // one of Choices: a flag, a select
	Duration             // a Go duration such as 15m: a flag, an entry
	Secret               // kept in the keyring only, never in Config: read from stdin or a prompt, a password entry
)

// Setting is one setting of a source kind.
type Setting struct {
	// Key is the key in store.Source.Config (for a Secret, the keyring field), such as "base_url".
	Key string
	// Flag is the command-line flag without dashes, such as "base-url".
	Flag string
	// Label is the form's label, such as "Token URL".
	Label string
	// Hint says what to give, in a few words; it is the flag's usage and the form's hint.
	Hint string
	// Type is what the value is.
	Type Type
	// Required settings must be given.
	Required bool
	// Default is the value used when none is given; it is shown, not stored.
	Default string
	// Choices are the values a Choice setting allows.
	Choices []string
	// Advanced settings are shown folded in the form.
	Advanced bool
	// Check, when set, checks one given value (each value of a List) beyond what Type checks.
	Check func(value string) error
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

// Describer is implemented by every driver: it describes its kind's settings.
type Describer interface {
	Describe() Kind
}
