// Package store keeps everything Custody holds in one SQLite file: sources, meters, series,
// readings, bills, customer information, Open Banking events, DataHub messages, the raw payload
// archive, sync runs and acknowledgements still owed to custodians.
//
// No SQL lives outside this package. Writers take a [Tx] so that a payload's readings and the
// acknowledgement it owes are committed together, or not at all.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when a named row does not exist.
var ErrNotFound = errors.New("not found")

// ErrReadOnly is returned by a write to a store opened read-only.
var ErrReadOnly = errors.New("the database is open for reading only")

// NewerSchemaError is returned when the database was written by a newer Custody: it holds
// migrations this build does not know, so writing to it could corrupt what the newer one keeps.
type NewerSchemaError struct {
	Have    int      // migrations applied to the database
	Know    int      // migrations this build knows
	Unknown []string // the applied migrations this build does not know
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("this database was written by a newer Custody (schema %d, this one knows %d): "+
		"update Custody to use it; this one only reads it, and only for export, events, messages and sources list", e.Have, e.Know)
}

// Options changes how a database is opened.
type Options struct {
	// ReadNewer lets a database written by a newer Custody be opened for reading only, for
	// the commands that only read (export, events, messages, sources list). Without it such a
	// database is refused with a *NewerSchemaError. Databases this build knows open as usual.
	ReadNewer bool
	// BusyTimeout is how long a writer waits for another; zero means [BusyTimeout].
	BusyTimeout time.Duration
	// OnUpgrade, when set, is called once before a database written by an older Custody is
	// brought up to date, so that a command can say why its first start takes a while (a
	// large database converts for a minute; see migration 2000). It is not called for a new
	// database.
	OnUpgrade func()
}

// Store is an open Custody database.
type Store struct {
	db       *sql.DB
	path     string
	readOnly bool
	stmts    stmtCache // statements prepared on the database, reused across transactions

	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Open opens (creating when needed) the database at path and brings its schema up to date.
// A new file is created with mode 0600 in a folder with mode 0700: the data is personal.
// A database written by a newer Custody is refused with a *NewerSchemaError.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: no database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: create folder: %w", err)
		}
	}
	// Create the file ourselves so that its mode is 0600 whatever the umask; SQLite would
	// otherwise create it 0644.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()

	q := url.Values{}
	// WAL lets the UI read while the engine writes.
	q.Add("_pragma", "journal_mode(wal)")
	// Series and readings depend on meters; keep the database from holding orphans.
	q.Add("_pragma", "foreign_keys(1)")
	// The engine, an import and the UI write from different goroutines (and `custody sync`
	// may run beside the GUI): wait for the lock instead of failing at once.
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = BusyTimeout
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	// NORMAL is durable in WAL mode except for the last transactions on power loss, which
	// at-least-once delivery makes harmless: unacknowledged data comes again.
	q.Add("_pragma", "synchronous(1)")
	// A checkpoint copies every page the WAL holds into the database file once, however many
	// commits wrote it since the last one. Open Banking events commit every ten events and
	// each commit writes about 30 pages, a third of them random index leaves (jti): with
	// checkpoints every 8,000 pages instead of SQLite's 1,000, those leaves are copied about
	// eight times less often (BenchmarkEventPolls: storage 5 to 10 % cheaper). The WAL grows
	// to about 32 MB while a long sync runs; it is deleted when the last connection closes.
	q.Add("_pragma", "wal_autocheckpoint(8000)")
	// Take the write lock at BEGIN, so two writers queue on the busy timeout instead of
	// failing with SQLITE_BUSY when a read transaction tries to upgrade.
	q.Set("_txlock", "immediate")

	s, err := openDSN(ctx, path, q)
	if err != nil {
		return nil, err
	}
	newer, err := s.newerSchema(ctx)
	if err != nil {
		s.db.Close()
		return nil, err
	}
	if newer != nil {
		s.db.Close()
		if !opts.ReadNewer {
			return nil, fmt.Errorf("open store %s: %w", path, newer)
		}
		// Reads only: SQLite refuses every write on these connections.
		q.Add("_pragma", "query_only(1)")
		if s, err = openDSN(ctx, path, q); err != nil {
			return nil, err
		}
		s.readOnly = true
		return s, nil
	}
	if err := s.migrate(ctx, opts.OnUpgrade); err != nil {
		s.db.Close()
		return nil, err
	}
	// The WAL and shared-memory files inherit nothing from the main file's mode.
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Chmod(path+suffix, 0o600)
	}
	return s, nil
}

func openDSN(ctx context.Context, path string, q url.Values) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Writers serialise on SQLite's lock anyway; a few connections let reads go on beside them.
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db, path: path, Now: time.Now}, nil
}

// ReadOnly reports whether the store was opened for reading only (a newer Custody's database).
func (s *Store) ReadOnly() bool { return s.readOnly }

// newerSchema returns a *NewerSchemaError when the database holds migrations this build does
// not know, and nil otherwise (a new or older database, or this build's own).
func (s *Store) newerSchema(ctx context.Context) (*NewerSchemaError, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("open store: read schema: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	applied, err := s.Migrations(ctx)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	known, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	knownSet := map[string]bool{}
	for _, k := range known {
		knownSet[strings.TrimPrefix(k, "migrations/")] = true
	}
	var unknown []string
	for _, a := range applied {
		if !knownSet[a] {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	return &NewerSchemaError{Have: len(applied), Know: len(known), Unknown: unknown}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	s.closeStmts()
	return s.db.Close()
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// migrate applies, in name order, each embedded migration not yet recorded, each in its own
// transaction together with its record.
func (s *Store) migrate(ctx context.Context, onUpgrade func()) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	var recorded int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&recorded); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if recorded > 0 && recorded < len(names) && onUpgrade != nil {
		onUpgrade()
	}
	applied := false
	for _, name := range names {
		did, err := s.migrateFile(ctx, name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		applied = applied || did
	}
	if applied {
		s.compactAfterMigration(ctx)
	}
	return nil
}

// compactAfterMigration gives the file system back what a migration freed when that is a
// quarter of the file or more: migration 2000 frees about two thirds of a database whose
// readings were rows (a 238 MB file becomes about 70 MB), and SQLite never shrinks a file by
// itself. It runs once, right after the migration; if it fails (VACUUM needs as much free
// disk as the file) the file stays as it is, whole and correct, and the free pages are reused.
func (s *Store) compactAfterMigration(ctx context.Context) {
	var free, pages int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_count FROM pragma_page_count)`).Scan(&free, &pages); err != nil {
		return
	}
	if pages > 0 && free*4 >= pages {
		_, _ = s.db.ExecContext(ctx, `VACUUM`)
	}
}

// migrateFile applies one migration unless it is recorded; applied says whether it ran.
func (s *Store) migrateFile(ctx context.Context, name string) (applied bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied) VALUES (?, ?)`, name, time.Now().Unix()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Migrations lists the names of the applied migrations, in order.
func (s *Store) Migrations(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.db, "list migrations", func(sc rowScanner) (string, error) {
		var n string
		err := sc.Scan(&n)
		return strings.TrimPrefix(n, "migrations/"), err
	}, `SELECT name FROM migrations ORDER BY name`)
}
