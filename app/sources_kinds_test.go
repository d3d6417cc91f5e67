package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/engine"
	"custody/sync/settings"
)

// fakeWatt is a driver of a kind that only this test registers: two settings, no secret.
type fakeWatt struct{}

func (fakeWatt) Kind() string { return "fakewatt" }

func (fakeWatt) Describe() settings.Kind {
	return settings.Kind{Name: "fakewatt", Title: "Fake Watt", Settings: []settings.Setting{
		{Key: "meter_id", Flag: "meter-id", Label: "Meter id", Type: settings.Text, Required: true, Hint: "the meter's id on the bill"},
		{Key: "region", Flag: "region", Label: "Region", Type: settings.Choice, Choices: []string{"north", "south"}, Default: "north", Hint: "the grid region"},
	}}
}

func (fakeWatt) Sync(context.Context, *engine.Job) (engine.Result, error) {
	return engine.Result{}, errors.New("fakewatt does not sync")
}

func (fakeWatt) Test(context.Context, *engine.Job) (string, error) { return "ok", nil }

// TestANewKindNeedsOnlyItsDriver registers a kind with one line and finds it in the help of
// `custody sources`, adds, lists and edits a source of it, with flags made from its
// description and nothing else changed.
func TestANewKindNeedsOnlyItsDriver(t *testing.T) {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory(), extra: []engine.Driver{fakeWatt{}}}
	code, out, errs := c.run("", "sources", "add", "--help")
	if code != 0 || errs != "" {
		t.Fatalf("help: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"fakewatt (Fake Watt):", "--meter-id VALUE [--region north|south]",
		"the meter's id on the bill (required)", "the grid region (default north)",
		"greenbutton (Green Button (utility)):", "--base-url URL --token-url URL --client-id VALUE"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if code, out, errs := c.run("", "sources", "add", "fakewatt", "home", "--meter-id", "M-1", "--region", "south"); code != 0 || out != "added fakewatt source home\n" {
		t.Fatalf("add: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := c.run("", "sources", "add", "fakewatt", "away", "--region", "east"); code != 2 ||
		!strings.Contains(errs, `--region must be north or south, not "east"`) {
		t.Fatalf("a bad choice: exit %d, %q", code, errs)
	}
	if code, _, errs := c.run("", "sources", "add", "fakewatt", "away", "--meter-id", "M-2", "--base-url", "https://x.example"); code != 2 ||
		!strings.Contains(errs, "--base-url does not apply to a fakewatt source") {
		t.Fatalf("another kind's flag: exit %d, %q", code, errs)
	}
	if code, _, errs := c.run("", "sources", "add", "greenbutton", "gb", "--base-url", "https://u.example/espi", "--token-url", "https://u.example/token",
		"--client-id", "c", "--meter-id", "M-3", "--secret-stdin"); code != 2 || !strings.Contains(errs, "--meter-id does not apply to a greenbutton source") {
		t.Fatalf("its flag on another kind: exit %d, %q", code, errs)
	}
	if code, _, errs := c.run("", "sources", "edit", "home", "--region", "north"); code != 0 {
		t.Fatalf("edit: exit %d, %q", code, errs)
	}
	st, err := store.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, err := st.SourceByName(context.Background(), "home")
	if err != nil || len(src.Config) != 1 || src.Config["meter_id"] != "M-1" {
		t.Fatalf("stored: %+v, %v (the default region is not stored)", src.Config, err)
	}
	// The GUI gets it with the others, for its Sources form (ui's TestSourceFormOfANewKind).
	env := &Env{Secrets: c.secrets}
	env.Drivers = drivers(env)
	env.Drivers["fakewatt"] = fakeWatt{}
	var names []string
	for _, k := range guiDeps(env, st, guiOptions{}).Kinds {
		names = append(names, k.Name)
	}
	if strings.Join(names, " ") != "datahub eloverblik fakewatt greenbutton obevents" {
		t.Fatalf("the GUI's kinds: %v", names)
	}
	code, out, _ = c.run("", "sources", "list")
	if code != 0 || !strings.Contains(out, "home: fakewatt, enabled, last sync never") ||
		!strings.Contains(out, "Meter id  --meter-id  M-1") || !strings.Contains(out, "Region    --region    north (default)") {
		t.Fatalf("list: %d\n%s", code, out)
	}
}

// TestSourcesEditChangesOnlyWhatIsGiven: edit keeps the settings not given, removes one given
// empty, replaces the secret with --secret-stdin, checks like add, and never prints a secret.
func TestSourcesEditChangesOnlyWhatIsGiven(t *testing.T) {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	if code, out, errs := c.run("first-secret\n", "sources", "add", "greenbutton", "gb", "--base-url", "https://u.example/espi",
		"--token-url", "https://u.example/token", "--client-id", "c", "--bulk-id", "1,2", "--scope", "FB=1", "--secret-stdin"); code != 0 {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	if code, out, errs := c.run("second-secret\n", "sources", "edit", "gb", "--scope", "", "--interval", "1h", "--secret-stdin"); code != 0 || out != "changed source gb\n" {
		t.Fatalf("edit: %d %q %q", code, out, errs)
	}
	if code, _, errs := c.run("", "sources", "edit", "gb", "--token-url", "http://u.example/token"); code != 2 || !strings.Contains(errs, "only https is allowed") {
		t.Fatalf("edit to http: %d %q", code, errs)
	}
	if code, _, errs := c.run("", "sources", "edit", "gb"); code != 2 || !strings.Contains(errs, "say which settings of gb to change") {
		t.Fatalf("edit of nothing: %d %q", code, errs)
	}
	if code, _, errs := c.run("", "sources", "edit", "nope", "--interval", "1h"); code != 1 || errs == "" {
		t.Fatalf("edit of an unknown source: %d %q", code, errs)
	}
	st, err := store.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.SourceByName(context.Background(), "gb")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"base_url": "https://u.example/espi", "token_url": "https://u.example/token", "client_id": "c",
		"bulk_ids": `["1","2"]`, "interval": "1h"}
	if len(src.Config) != len(want) {
		t.Fatalf("config %v, want %v", src.Config, want)
	}
	for k, v := range want {
		if src.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, src.Config[k], v)
		}
	}
	if got, _ := c.secrets.Secret("gb", SecretField); got != "second-secret" {
		t.Errorf("secret %q after edit --secret-stdin", got)
	}
	code, out, _ := c.run("", "sources", "list")
	if code != 0 || strings.Contains(out, "-secret\n") || strings.Contains(out, "second") || !strings.Contains(out, "Client secret") ||
		!strings.Contains(out, "Bulk ids") || !strings.Contains(out, "1, 2") || !strings.Contains(out, "https://u.example/token") {
		t.Fatalf("list:\n%s", out)
	}
}

// TestRegisteredKindsAgree: the built-in kinds' descriptions make one consistent set of flags.
func TestRegisteredKindsAgree(t *testing.T) {
	ks := kinds(builtinKinds())
	if len(ks) != 4 { // greenbutton, obevents, datahub, eloverblik
		t.Fatalf("%d kinds", len(ks))
	}
	if err := settings.CheckKinds(ks, "db", "secret-stdin", "help", "h"); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		// The client secret first; a kind may keep more (an Open Banking signing key's
		// passphrase), each asked for only when a source needs it.
		if k.Title == "" || len(k.Secrets()) == 0 || k.Secrets()[0].Key != SecretField {
			t.Errorf("%s: title %q, secrets %v", k.Name, k.Title, k.Secrets())
		}
	}
}

// TestEachKindSaysItsDefaultInterval: each built-in kind's description gives its default sync
// interval (the engine asks the kind, knowing none by name), the same as before the kinds
// said it themselves, and the interval setting shows it.
func TestEachKindSaysItsDefaultInterval(t *testing.T) {
	env := builtinKinds()
	for kind, want := range map[string]time.Duration{
		"greenbutton": 6 * time.Hour,
		"obevents":    5 * time.Minute,
		"datahub":     15 * time.Minute,
		"eloverblik":  time.Hour,
	} {
		d := env.Drivers[kind]
		if d == nil {
			t.Errorf("%s: not registered", kind)
			continue
		}
		src := store.Source{Name: "s", Kind: kind, Config: map[string]string{}}
		if got := engine.Interval(d, src); got != want {
			t.Errorf("%s: default interval %v, want %v", kind, got, want)
		}
		src.Config[settings.KeyInterval] = "2h"
		if got := engine.Interval(d, src); got != 2*time.Hour {
			t.Errorf("%s: with interval 2h, %v", kind, got)
		}
		s, ok := d.Describe().ByFlag("interval")
		if !ok || s.Default == "" {
			t.Errorf("%s: no interval setting with its default shown", kind)
		}
	}
}
