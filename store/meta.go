package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MetaKeyringScoped is the meta key set once the OS keyring items this database's sources had
// before keyring items were named by database have been moved to their per-database names.
const MetaKeyringScoped = "keyring_scoped"

// DatabaseID returns the random id made when this database was created. The OS keyring's items
// of this database are named by it.
func (s *Store) DatabaseID(ctx context.Context) (string, error) {
	id, ok, err := s.Meta(ctx, "database_id")
	if err != nil {
		return "", err
	}
	if !ok || id == "" {
		return "", errors.New("read database id: the database has none")
	}
	return id, nil
}

// Meta returns the value of a fact about the database, and whether it is set.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, true, nil
}

// SetMeta records a fact about the database.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if s.readOnly {
		return fmt.Errorf("set meta %s: %w", key, ErrReadOnly)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set meta %s: %w", key, err)
	}
	return nil
}
