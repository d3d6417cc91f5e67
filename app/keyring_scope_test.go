package app

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"custody/app/secrets"
	"custody/store"
)

// runWithKeyring runs a command against db with the OS keyring (here go-keyring's mock).
func runWithKeyring(t *testing.T, db, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, log bytes.Buffer
	env := &Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out,
		Getenv:  func(string) string { return "" },
		Secrets: secrets.Keyring{},
		Logger:  slog.New(slog.NewTextHandler(&log, nil)),
	}
	env.Drivers = drivers(env)
	env.Formats = fileFormats()
	code := Run(context.Background(), env, append(args, "--db", db))
	return code, out.String() + log.String()
}

func databaseID(t *testing.T, db string) string {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.DatabaseID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Two databases with a source of the same name once shared one keyring item: adding the source
// to the second replaced the first one's secret, and removing it from one deleted the other's.
func TestKeyringItemsBelongToOneDatabase(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	dbA, dbB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	add := func(db, secret string) {
		if code, out := runWithKeyring(t, db, secret+"\n", "sources", "add", "greenbutton", "dup",
			"--base-url", "https://utility.example/espi/1_1/resource", "--token-url", "https://utility.example/token",
			"--client-id", "c", "--secret-stdin"); code != 0 {
			t.Fatalf("sources add: %d %s", code, out)
		}
	}
	add(dbA, "secret-of-a")
	add(dbB, "secret-of-b")
	a := secrets.Keyring{DB: databaseID(t, dbA)}
	b := secrets.Keyring{DB: databaseID(t, dbB)}
	if a.DB == b.DB {
		t.Fatal("two databases have the same id")
	}
	if v, err := a.Secret("dup", SecretField); err != nil || v != "secret-of-a" {
		t.Errorf("database A's secret: %q %v", v, err)
	}
	if v, err := b.Secret("dup", SecretField); err != nil || v != "secret-of-b" {
		t.Errorf("database B's secret: %q %v", v, err)
	}
	if code, out := runWithKeyring(t, dbA, "", "sources", "remove", "dup"); code != 0 {
		t.Fatalf("sources remove: %d %s", code, out)
	}
	if _, err := a.Secret("dup", SecretField); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("database A's secret after remove: %v", err)
	}
	if v, err := b.Secret("dup", SecretField); err != nil || v != "secret-of-b" {
		t.Errorf("removing A's source touched B's secret: %q %v", v, err)
	}
	if _, err := (secrets.Keyring{}).Secret("dup", SecretField); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("a secret was written under the shared, per-source name: %v", err)
	}
}

// A database from before keyring items were per database has its sources' items moved to its
// own names the first time it is opened, and only its own sources' items.
func TestLegacyKeyringItemsMoveOnFirstOpen(t *testing.T) {
	keyring.MockInit()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "old.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "home", Kind: "greenbutton", Enabled: true, Config: map[string]string{"base_url": "https://u.example/espi/1_1/resource"}}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	id, _ := st.DatabaseID(ctx)
	st.Close()
	legacy := secrets.Keyring{}
	must(t, legacy.SetSecret("home", SecretField, "old-secret"))
	must(t, legacy.SetSecret("home", "access_token", "old-token"))
	must(t, legacy.SetSecret("elsewhere", SecretField, "not-ours"))

	if code, out := runWithKeyring(t, db, "", "sources", "list"); code != 0 {
		t.Fatalf("sources list: %d %s", code, out)
	}
	scoped := secrets.Keyring{DB: id}
	for field, want := range map[string]string{SecretField: "old-secret", "access_token": "old-token"} {
		if v, err := scoped.Secret("home", field); err != nil || v != want {
			t.Errorf("moved %s: %q %v", field, v, err)
		}
		if _, err := legacy.Secret("home", field); !errors.Is(err, secrets.ErrNotFound) {
			t.Errorf("legacy %s still in the keyring: %v", field, err)
		}
	}
	if v, err := legacy.Secret("elsewhere", SecretField); err != nil || v != "not-ours" {
		t.Errorf("another database's legacy item was moved: %q %v", v, err)
	}
	// The move happens once: a legacy item written later is not taken.
	must(t, legacy.SetSecret("home", SecretField, "later"))
	runWithKeyring(t, db, "", "sources", "list")
	if v, _ := scoped.Secret("home", SecretField); v != "old-secret" {
		t.Errorf("moved twice: %q", v)
	}
}

func TestNewerDatabaseIsReadButNotWritten(t *testing.T) {
	keyring.MockInit()
	db := filepath.Join(t.TempDir(), "newer.db")
	if code, out := runWithKeyring(t, db, "s\n", "sources", "add", "greenbutton", "home",
		"--base-url", "https://u.example/espi/1_1/resource", "--token-url", "https://u.example/token",
		"--client-id", "c", "--secret-stdin"); code != 0 {
		t.Fatalf("sources add: %d %s", code, out)
	}
	raw, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO migrations (name, applied) VALUES ('9900_from_the_future.sql', 0)`)
	raw.Close()
	must(t, err)
	file := filepath.Join(t.TempDir(), "usage.xml")
	must(t, os.WriteFile(file, []byte("<feed/>"), 0o600))

	code, out := runWithKeyring(t, db, "", "sync", "--once")
	if code == 0 || !strings.Contains(out, "this database was written by a newer Custody (schema ") {
		t.Errorf("sync on a newer database: %d %s", code, out)
	}
	code, out = runWithKeyring(t, db, "", "import", file)
	if code == 0 || !strings.Contains(out, "newer Custody") {
		t.Errorf("import on a newer database: %d %s", code, out)
	}
	for _, args := range [][]string{{"sources", "list"}, {"export"}, {"events"}, {"messages"}} {
		if code, out := runWithKeyring(t, db, "", args...); code != 0 {
			t.Errorf("%v on a newer database: %d %s", args, code, out)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
