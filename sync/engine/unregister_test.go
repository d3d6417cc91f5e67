package engine

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"custody/store"
	"custody/sync/settings"
)

// removerDriver is a driver that registered something at its custodian.
type removerDriver struct{ removed []string }

func (d *removerDriver) Kind() string { return "obevents" }
func (d *removerDriver) Sync(context.Context, *Job) (Result, error) {
	return Result{}, nil
}
func (d *removerDriver) Test(context.Context, *Job) (string, error) { return "", nil }
func (d *removerDriver) Describe() settings.Kind                    { return settings.Kind{Name: "obevents"} }
func (d *removerDriver) Remove(_ context.Context, job *Job) (string, error) {
	d.removed = append(d.removed, job.Source.Name)
	return "deleted the event subscription at the bank", nil
}

// TestUnregister: the engine asks a Remover driver to delete the source's registration and
// passes its words on; a kind that registers nothing says nothing.
func TestUnregister(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, src := range []store.Source{{Name: "bank", Kind: "obevents", Enabled: true, Config: map[string]string{}},
		{Name: "util", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}} {
		if err := st.AddSource(context.Background(), &src); err != nil {
			t.Fatal(err)
		}
	}
	d := &removerDriver{}
	e := &Engine{cfg: Config{Store: st, Drivers: map[string]Driver{"obevents": d}}}
	e.log = slog.New(slog.DiscardHandler)
	msg, err := e.Unregister(context.Background(), "bank")
	if err != nil || msg != "deleted the event subscription at the bank" || len(d.removed) != 1 {
		t.Fatalf("bank: %q %v %v", msg, err, d.removed)
	}
	if msg, err := e.Unregister(context.Background(), "util"); err != nil || msg != "" {
		t.Fatalf("util: %q %v", msg, err)
	}
	if _, err := e.Unregister(context.Background(), "none"); err == nil {
		t.Fatal("an unknown source was accepted")
	}
}
