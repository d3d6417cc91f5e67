package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"custody/store"
)

func TestDatabaseIDIsRandomAndStable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ids := map[string]bool{}
	for _, name := range []string{"a.db", "b.db"} {
		path := filepath.Join(dir, name)
		st, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.DatabaseID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if len(id) != 32 {
			t.Errorf("database id %q: want 32 hex digits", id)
		}
		ids[id] = true
		st, err = store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := st.DatabaseID(ctx)
		st.Close()
		if err != nil || again != id {
			t.Errorf("database id changed on reopen: %q then %q (%v)", id, again, err)
		}
	}
	if len(ids) != 2 {
		t.Errorf("two databases share an id: %v", ids)
	}
}

// markNewer makes the database at path look as if a newer Custody had migrated it.
func markNewer(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO migrations (name, applied) VALUES ('9900_from_the_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
}

func TestNewerDatabaseIsRefusedForWriting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custody.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "home", Kind: "greenbutton", Enabled: true, Config: map[string]string{"base_url": "https://x.example"}}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	known, _ := st.Migrations(ctx)
	st.Close()
	markNewer(t, path)

	_, err = store.Open(ctx, path)
	var newer *store.NewerSchemaError
	if !errors.As(err, &newer) {
		t.Fatalf("open a newer database: got %v, want a NewerSchemaError", err)
	}
	if newer.Have != len(known)+1 || newer.Know != len(known) {
		t.Errorf("schema figures: have %d know %d, want %d and %d", newer.Have, newer.Know, len(known)+1, len(known))
	}
	want := "this database was written by a newer Custody (schema "
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}

	ro, err := store.OpenWith(ctx, path, store.Options{ReadNewer: true})
	if err != nil {
		t.Fatalf("open a newer database for reading: %v", err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Error("a newer database opened for reading says it is writable")
	}
	srcs, err := ro.Sources(ctx)
	if err != nil || len(srcs) != 1 || srcs[0].Name != "home" {
		t.Fatalf("read sources of a newer database: %v %v", srcs, err)
	}
	other := store.Source{Name: "other", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}
	if err := ro.AddSource(ctx, &other); err == nil {
		t.Fatal("a write to a newer database opened for reading succeeded")
	}
	// Nothing was migrated or written: the future migration is still the only unknown one.
	ro.Close()
	_, err = store.Open(ctx, path)
	if !errors.As(err, &newer) || len(newer.Unknown) != 1 {
		t.Fatalf("after a read-only open: %v", err)
	}
}

func TestOlderDatabaseIsMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custody.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// As a database from before the meta table.
	if _, err := db.Exec(`DROP TABLE meta; DELETE FROM migrations WHERE name = 'migrations/0500_database_meta.sql'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open an older database: %v", err)
	}
	defer st.Close()
	if _, err := st.DatabaseID(ctx); err != nil {
		t.Fatalf("an older database got no id: %v", err)
	}
}
