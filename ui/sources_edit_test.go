package ui

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// An edit in the Sources form whose update of the source fails (SQLite refuses it, as a
// constraint or a lock would) leaves the keyring as it was: the working secret stays and the
// new one typed is not stored; the form says why. Once the database accepts, the same edit
// stores both.
func TestFailedFormEditKeepsTheWorkingSecret(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	if err := h.secrets.SetSecret("home-utility", "client_secret", "the-working-secret"); err != nil {
		t.Fatal(err)
	}
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	orig, err := h.st.SourceByName(ctx, "home-utility")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+h.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER refuse BEFORE UPDATE ON sources BEGIN SELECT RAISE(ABORT, 'the database refused the change'); END`); err != nil {
		t.Fatal(err)
	}

	f := v.newForm(orig, false)
	f.dlg.Show()
	f.field("client-id").(*widget.Entry).SetText("tp-edited")
	test.Type(f.secrets["client_secret"], "a-new-secret")
	f.save()
	h.m.Wait()
	if !strings.Contains(f.errLbl.Text, "the database refused the change") {
		t.Fatalf("form after a failed update: %q", f.errLbl.Text)
	}
	if got := h.secrets.m["home-utility/client_secret"]; got != "the-working-secret" {
		t.Fatalf("the keyring holds %q after the failed edit, want the working secret", got)
	}
	if src, _ := h.st.SourceByName(ctx, "home-utility"); src.Config["client_id"] != orig.Config["client_id"] {
		t.Fatalf("client id %q after the failed edit", src.Config["client_id"])
	}

	if _, err := raw.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	test.Type(f.secrets["client_secret"], "a-new-secret")
	f.save()
	h.m.Wait()
	if got := h.secrets.m["home-utility/client_secret"]; got != "a-new-secret" {
		t.Fatalf("the keyring holds %q after a good edit", got)
	}
	if src, _ := h.st.SourceByName(ctx, "home-utility"); src.Config["client_id"] != "tp-edited" {
		t.Fatalf("client id %q after a good edit", src.Config["client_id"])
	}
}
