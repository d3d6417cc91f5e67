package app

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/espi/espitest"
)

// editRig is a Green Button source added against a simulator that accepts only its secret,
// with the OS keyring (go-keyring's mock) behind per-database items.
type editRig struct {
	t   *testing.T
	db  string
	sim *espitest.Server
}

func newEditRig(t *testing.T) *editRig {
	t.Helper()
	keyring.MockInit()
	g := newGBRig(t, "custody-edit", &espitest.Options{Days: 1})
	r := &editRig{t: t, db: g.c.db, sim: g.sim}
	if code, out := runWithKeyring(t, r.db, g.sim.Secret()+"\n", g.addArgs("gb")...); code != 0 {
		t.Fatalf("sources add: %d %s", code, out)
	}
	r.works()
	return r
}

// works checks that the source's secret is the one the custodian accepts.
func (r *editRig) works() {
	r.t.Helper()
	if code, out := runWithKeyring(r.t, r.db, "", "sources", "test", "gb"); code != 0 || !strings.Contains(out, "gb: OK") {
		r.t.Fatalf("sources test: %d %s", code, out)
	}
}

// secret is the source's secret in the keyring.
func (r *editRig) secret() string {
	r.t.Helper()
	v, err := secrets.Keyring{DB: databaseID(r.t, r.db)}.Secret("gb", SecretField)
	must(r.t, err)
	return v
}

// source is the source as stored.
func (r *editRig) source() store.Source {
	r.t.Helper()
	st, err := store.Open(context.Background(), r.db)
	must(r.t, err)
	defer st.Close()
	src, err := st.SourceByName(context.Background(), "gb")
	must(r.t, err)
	return src
}

// exec runs SQL on the database file beside Custody.
func (r *editRig) exec(query string) {
	r.t.Helper()
	raw, err := sql.Open("sqlite", "file:"+r.db)
	must(r.t, err)
	defer raw.Close()
	_, err = raw.Exec(query)
	must(r.t, err)
}

// An edit whose update of the source fails (here SQLite refuses it, as a constraint or a
// lock would) leaves the source and its working secret as they were: the new secret given
// with --secret-stdin is not stored, and the source still syncs with the old one.
func TestFailedEditKeepsTheWorkingSecret(t *testing.T) {
	r := newEditRig(t)
	before := r.source()
	r.exec(`CREATE TRIGGER refuse BEFORE UPDATE ON sources BEGIN SELECT RAISE(ABORT, 'the database refused the change'); END`)
	const fresh = "a-new-secret-never-accepted"
	code, out := runWithKeyring(t, r.db, fresh+"\n", "sources", "edit", "gb", "--interval", "2h", "--secret-stdin")
	if code == 0 || !strings.Contains(out, "the database refused the change") {
		t.Fatalf("edit against a refusing database: %d %s", code, out)
	}
	if strings.Contains(out, fresh) {
		t.Errorf("the output shows the secret: %s", out)
	}
	r.exec(`DROP TRIGGER refuse`)
	if got := r.secret(); got != r.sim.Secret() {
		t.Fatalf("the keyring holds %q after the failed edit, want the working secret", got)
	}
	if after := r.source(); after.Config["interval"] != before.Config["interval"] {
		t.Errorf("interval %q after the failed edit, want %q", after.Config["interval"], before.Config["interval"])
	}
	r.works()
}

// refusingKeyring is the OS keyring (the mock) refusing to store one value, as a locked or
// full keyring would.
type refusingKeyring struct {
	secrets.Store
	refuse string
}

func (k refusingKeyring) SetSecret(source, field, value string) error {
	if value == k.refuse {
		return errors.New("the keyring is locked")
	}
	return k.Store.SetSecret(source, field, value)
}

func (k refusingKeyring) ForDatabase(id string) secrets.Store {
	return refusingKeyring{Store: secrets.Keyring{}.ForDatabase(id), refuse: k.refuse}
}

// An edit whose secret the keyring refuses leaves the source's settings as they were (they
// were stored first, then put back), and the working secret.
func TestEditRefusedByTheKeyringLeavesTheSource(t *testing.T) {
	r := newEditRig(t)
	before := r.source()
	const fresh = "a-new-secret-the-keyring-refuses"
	var out strings.Builder
	env := &Env{Stdin: strings.NewReader(fresh + "\n"), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" },
		Secrets: refusingKeyring{Store: secrets.Keyring{}, refuse: fresh}, Logger: slog.New(slog.DiscardHandler)}
	env.Drivers = drivers(env)
	env.Formats = fileFormats()
	code := Run(context.Background(), env, []string{"sources", "edit", "gb", "--interval", "2h", "--secret-stdin", "--db", r.db})
	if code == 0 || !strings.Contains(out.String(), "the keyring is locked") || !strings.Contains(out.String(), "the source is unchanged") {
		t.Fatalf("edit refused by the keyring: %d %s", code, out.String())
	}
	if after := r.source(); after.Config["interval"] != before.Config["interval"] {
		t.Errorf("interval %q after the refused edit, want %q", after.Config["interval"], before.Config["interval"])
	}
	if got := r.secret(); got != r.sim.Secret() {
		t.Fatalf("the keyring holds %q after the refused edit", got)
	}
	r.works()
	// And an edit that succeeds stores both.
	if code, out := runWithKeyring(t, r.db, "", "sources", "edit", "gb", "--interval", "2h"); code != 0 {
		t.Fatalf("edit: %d %s", code, out)
	}
	if r.source().Config["interval"] != "2h" {
		t.Errorf("interval %q after a good edit", r.source().Config["interval"])
	}
}
