package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

func unixTime(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

// ErrExists is returned when a source of the same name is already configured.
var ErrExists = errors.New("already exists")

// AddSource stores a new source and sets its ID.
func (s *Store) AddSource(ctx context.Context, src *Source) error {
	now := s.Now().Unix()
	err := s.db.QueryRowContext(ctx, `INSERT INTO sources (name, kind, enabled, config, created, updated)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		src.Name, src.Kind, src.Enabled, marshalAttrs(src.Config), now, now).Scan(&src.ID)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("add source %q: %w", src.Name, ErrExists)
		}
		return fmt.Errorf("add source %q: %w", src.Name, err)
	}
	src.Created, src.Updated = unixTime(now), unixTime(now)
	return nil
}

// UpdateSource saves a source's enabled flag and settings.
func (s *Store) UpdateSource(ctx context.Context, src *Source) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sources SET enabled = ?, config = ?, updated = ? WHERE id = ?`,
		src.Enabled, marshalAttrs(src.Config), s.Now().Unix(), src.ID)
	if err != nil {
		return fmt.Errorf("update source %q: %w", src.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update source %q: %w", src.Name, ErrNotFound)
	}
	return nil
}

// RemoveSource deletes a source by name. Data it brought in stays; its sync history and
// pending acknowledgements go with it.
func (s *Store) RemoveSource(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sources WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("remove source %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove source %q: %w", name, ErrNotFound)
	}
	return nil
}

const sourceColumns = `id, name, kind, enabled, config, created, updated`

func scanSource(sc rowScanner) (Source, error) {
	var src Source
	var cfg string
	var created, updated int64
	if err := sc.Scan(&src.ID, &src.Name, &src.Kind, &src.Enabled, &cfg, &created, &updated); err != nil {
		return src, err
	}
	src.Config = unmarshalAttrs(cfg)
	src.Created, src.Updated = unixTime(created), unixTime(updated)
	return src, nil
}

// Sources lists the configured sources by name.
func (s *Store) Sources(ctx context.Context) ([]Source, error) {
	return queryAll(ctx, s.db, "list sources", scanSource, `SELECT `+sourceColumns+` FROM sources ORDER BY name`)
}

// SourceByName returns the source with the given name, or an error wrapping [ErrNotFound].
func (s *Store) SourceByName(ctx context.Context, name string) (Source, error) {
	src, err := scanSource(s.db.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return src, fmt.Errorf("source %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return src, fmt.Errorf("source %q: %w", name, err)
	}
	return src, nil
}

// StartRun records the start of a sync of a source.
func (s *Store) StartRun(ctx context.Context, sourceID int64) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO sync_runs (source_id, started) VALUES (?, ?) RETURNING id`,
		sourceID, s.Now().Unix()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start sync run: %w", err)
	}
	return id, nil
}

// FinishRun records how a sync ended.
func (s *Store) FinishRun(ctx context.Context, r SyncRun) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sync_runs SET finished = ?, status = ?, error_kind = ?, error = ?, items = ?, readings = ? WHERE id = ?`,
		s.Now().Unix(), r.Status, r.ErrorKind, r.Error, r.Items, r.Readings, r.ID)
	if err != nil {
		return fmt.Errorf("finish sync run: %w", err)
	}
	return nil
}

// Runs lists the most recent sync runs of all sources (sourceID 0) or of one, newest first.
func (s *Store) Runs(ctx context.Context, sourceID int64, limit int) ([]SyncRun, error) {
	if limit <= 0 {
		limit = 100
	}
	return queryAll(ctx, s.db, "list sync runs", func(sc rowScanner) (SyncRun, error) {
		var r SyncRun
		var started, finished int64
		err := sc.Scan(&r.ID, &r.SourceID, &r.Source, &started, &finished, &r.Status, &r.ErrorKind, &r.Error, &r.Items, &r.Readings)
		r.Started, r.Finished = unixTime(started), unixTime(finished)
		return r, err
	}, `SELECT r.id, r.source_id, s.name, r.started, COALESCE(r.finished, 0), r.status,
			r.error_kind, r.error, r.items, r.readings
		FROM sync_runs r JOIN sources s ON s.id = r.source_id
		WHERE ? = 0 OR r.source_id = ? ORDER BY r.id DESC LIMIT ?`, sourceID, sourceID, limit)
}

// AddPendingAck records, inside the transaction that stores the data, an acknowledgement owed
// to the custodian. Adding the same one twice is harmless.
func (t *Tx) AddPendingAck(a PendingAck) error {
	if _, err := t.exec(`INSERT INTO pending_acks (source_id, kind, item, detail, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (source_id, kind, item) DO UPDATE SET detail = excluded.detail`,
		a.SourceID, a.Kind, a.Item, marshalAttrs(a.Detail), t.now()); err != nil {
		return fmt.Errorf("add pending %s %s: %w", a.Kind, a.Item, err)
	}
	return nil
}

// PendingAcks lists the acknowledgements of one kind still owed for a source, oldest first.
func (s *Store) PendingAcks(ctx context.Context, sourceID int64, kind string) ([]PendingAck, error) {
	return queryAll(ctx, s.db, "list pending "+kind, func(sc rowScanner) (PendingAck, error) {
		var a PendingAck
		var detail string
		var created int64
		err := sc.Scan(&a.ID, &a.SourceID, &a.Kind, &a.Item, &detail, &created)
		a.Detail, a.Created = unmarshalAttrs(detail), unixTime(created)
		return a, err
	}, `SELECT id, source_id, kind, item, detail, created FROM pending_acks
		WHERE source_id = ? AND kind = ? ORDER BY id`, sourceID, kind)
}

// DeletePendingAcks forgets acknowledgements the custodian has received.
func (s *Store) DeletePendingAcks(ctx context.Context, ids []int64) error {
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.exec(`DELETE FROM pending_acks WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete pending ack %d: %w", id, err)
		}
	}
	return tx.Commit()
}
