package app

import (
	"flag"
	"io"
	"maps"
	"os"
	"slices"
	"testing"

	"custody/store"
	"custody/sync/settings"
)

func mustWrite(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// builtinKinds describes the kinds app registers.
func builtinKinds() *Env {
	env := &Env{}
	env.Drivers = drivers(env)
	return env
}

// testKind describes one registered kind.
func testKind(t *testing.T, name string) settings.Kind {
	t.Helper()
	k, err := kindNamed(builtinKinds(), name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sourceFromFlags builds a source the way `custody sources add` does: the flags made from the
// registered kinds' settings, parsed from a command line with the values get and list give,
// then settings.Build.
func sourceFromFlags(kind, name string, get func(flag string) string, list func(flag string) []string) (store.Source, error) {
	env := builtinKinds()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf := bindSettingFlags(fs, kinds(env))
	var args []string
	for _, f := range slices.Sorted(maps.Keys(sf.flags)) {
		if sf.flags[f].isList {
			for _, v := range list(f) {
				args = append(args, "--"+f, v)
			}
			continue
		}
		if v := get(f); v != "" {
			args = append(args, "--"+f+"="+v)
		}
	}
	if err := fs.Parse(args); err != nil {
		return store.Source{}, err
	}
	k, err := kindNamed(env, kind)
	if err != nil {
		return store.Source{}, err
	}
	return settings.Build(k, name, sf.given(k))
}
