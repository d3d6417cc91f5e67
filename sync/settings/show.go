package settings

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"custody/store"
)

// Shown is one setting of a source as a person sees it.
type Shown struct {
	Setting Setting
	// Value is the value as text (a list joined with ", "; a Bool that is on "yes"; the
	// default followed by " (default)"; for a Secret only where it is kept).
	Value string
}

// SecretShown is what a secret shows instead of its value.
const SecretShown = "kept in the OS keyring (never shown)"

// Show returns the settings of src that a person needs to see, in the kind's order: every
// setting that is set or has a default, and each secret as SecretShown. It never returns a
// secret's value (secrets are not in Config).
func Show(k Kind, src store.Source) []Shown {
	var out []Shown
	for _, s := range k.Settings {
		v := Value(s, src)
		switch {
		case s.Type == Secret:
			v = SecretShown
		case s.Type == Bool && v == "true":
			v = "yes"
		case s.Type == Bool:
			continue
		case v == "" && s.Default != "":
			v = s.Default + " (default)"
		case v == "":
			continue
		}
		out = append(out, Shown{Setting: s, Value: v})
	}
	return out
}

// Value returns the setting's value in src as a person types it (a list comma separated; a
// Bool "true" or "false"); "" when it is not set, and always "" for a Secret.
func Value(s Setting, src store.Source) string {
	switch s.Type {
	case Secret:
		return ""
	case List:
		return strings.Join(src.List(s.Key), ", ")
	case Bool:
		return fmt.Sprint(src.Config[s.Key] == s.OnValue())
	}
	return src.Config[s.Key]
}

// ValuesOf returns the flags that give src its settings (the inverse of Build): each set
// setting's flag with its value, each value of a List separately, an on Bool as "true".
func ValuesOf(k Kind, src store.Source) Values {
	out := Values{}
	for _, s := range k.Settings {
		switch {
		case s.Type == Secret:
		case s.Type == List:
			if l := src.List(s.Key); len(l) > 0 {
				out[s.Flag] = l
			}
		case s.Type == Bool:
			if src.Config[s.Key] == s.OnValue() {
				out[s.Flag] = []string{"true"}
			}
		case src.Config[s.Key] != "":
			out[s.Flag] = []string{src.Config[s.Key]}
		}
	}
	return out
}

// metavar is the placeholder of a setting's value in a synopsis.
func metavar(s Setting) string {
	switch s.Type {
	case URL:
		return "URL"
	case File:
		return "FILE"
	case Choice:
		return strings.Join(s.Choices, "|")
	case Duration:
		return "DURATION"
	}
	return "VALUE"
}

// Synopsis is the kind's flags on one line, required ones first, optional ones in brackets,
// such as "--base-url URL --client-id VALUE [--bulk-id VALUE]... [--follow]".
func Synopsis(k Kind) string {
	var req, opt []string
	for _, s := range k.Settings {
		if s.Type == Secret {
			continue
		}
		f := "--" + s.Flag
		if s.Type != Bool {
			f += " " + metavar(s)
		}
		switch {
		case s.Required:
			req = append(req, f)
		case s.Type == List:
			opt = append(opt, "["+f+"]...")
		default:
			opt = append(opt, "["+f+"]")
		}
	}
	return strings.Join(append(req, opt...), " ")
}

// WriteUsage writes the kind's settings as command-line help: the synopsis, then one line a
// flag with its hint, whether it is required, its choices and its default.
func WriteUsage(w io.Writer, k Kind) error {
	fmt.Fprintf(w, "%s (%s):\n  %s\n", k.Name, k.Title, Synopsis(k))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range k.Settings {
		var notes []string
		if s.Required {
			notes = append(notes, "required")
		}
		if s.Type == List {
			notes = append(notes, "repeatable, or comma separated")
		}
		if s.Default != "" {
			notes = append(notes, "default "+s.Default)
		}
		hint := s.Hint
		if hint == "" {
			hint = s.Label
		}
		if len(notes) > 0 {
			hint += " (" + strings.Join(notes, "; ") + ")"
		}
		if s.Type == Secret {
			fmt.Fprintf(tw, "    %s\t%s: read with --secret-stdin or prompted for\n", "(secret)", s.Label)
			continue
		}
		f := "--" + s.Flag
		if s.Type != Bool {
			f += " " + metavar(s)
		}
		fmt.Fprintf(tw, "    %s\t%s\n", f, hint)
	}
	return tw.Flush()
}
