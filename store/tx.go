package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"custody/sync/crashpoint"

	"custody/store/internal/dayblob"
)

// Tx is a write transaction. Its statements come from the store's statement cache, so each is
// prepared once per connection, not once per transaction: readings are written by the hundred
// thousand, and events in many small transactions.
//
// A Tx may be used from two goroutines at once (a parser's writer goroutine storing readings
// while the reading goroutine archives the body): its statements run one at a time, and a
// batch commit (see Batched) waits for the statement running.
type Tx struct {
	s     *Store
	ctx   context.Context
	mu    sync.Mutex // guards tx, stmts and done, and is held while a statement runs
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	done  bool

	// batch, when set, lets readings be committed in batches of about this long, so that a
	// long import does not keep other writers out (see Batched).
	batch   time.Duration
	started time.Time

	days readingDayScratch // PutReadings' buffers
}

// Begin starts a write transaction. It takes SQLite's write lock at once and waits for it, up
// to [BusyTimeout]; a writer that waited longer gets a *BusyError.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	if s.readOnly {
		return nil, fmt.Errorf("begin: %w", ErrReadOnly)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", busyErr("begin", err))
	}
	return &Tx{s: s, tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}, started: time.Now()}, nil
}

// Batched lets the transaction commit the readings written so far and start again whenever it
// has held the write lock for about d, so that other writers get a turn during a long import.
// Only imports use it: what they write is idempotent (upserts) and their payload is marked
// parsed only in the last batch, so a crash between batches leaves a payload that is parsed
// again. Transactions that carry an acknowledgement owed to a custodian are never batched.
func (t *Tx) Batched(d time.Duration) { t.batch = d }

// maybeCommitBatch commits and begins anew when a batched transaction is due.
func (t *Tx) maybeCommitBatch() error {
	if t.batch <= 0 || time.Since(t.started) < t.batch {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeStmtsLocked()
	t.stmts = map[string]*sql.Stmt{}
	if err := t.tx.Commit(); err != nil {
		t.done = true
		return fmt.Errorf("commit a batch: %w", busyErr("commit", err))
	}
	crashpoint.Hit(crashpoint.AfterBatch)
	// Let a writer that is waiting take the lock before this import asks for it again.
	select {
	case <-t.ctx.Done():
		t.done = true
		return t.ctx.Err()
	case <-time.After(batchYield):
	}
	tx, err := t.s.db.BeginTx(t.ctx, nil)
	if err != nil {
		t.done = true
		return fmt.Errorf("begin a batch: %w", busyErr("begin", err))
	}
	t.tx, t.started = tx, time.Now()
	return nil
}

// Commit commits the transaction.
func (t *Tx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return fmt.Errorf("commit: transaction already finished")
	}
	t.done = true
	t.closeStmtsLocked()
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", busyErr("commit", err))
	}
	return nil
}

// Rollback abandons the transaction. It is safe to call after Commit (it then does nothing),
// so `defer tx.Rollback()` is the usual pattern.
func (t *Tx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	t.done = true
	t.closeStmtsLocked()
	return t.tx.Rollback()
}

// closeStmtsLocked releases the transaction's handles on the cached statements; the
// statements themselves stay prepared on their connection for the next transaction.
func (t *Tx) closeStmtsLocked() {
	for _, st := range t.stmts {
		st.Close()
	}
}

// stmtLocked returns the statement for query bound to this transaction: the store's cached
// statement (prepared again only on a connection that has not run it yet), else one
// prepared for this transaction alone.
func (t *Tx) stmtLocked(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if cached := t.s.cachedStmt(t.ctx, query); cached != nil {
		// database/sql reuses the statement already prepared on this transaction's
		// connection, or prepares it there once and keeps it for later transactions.
		st = t.tx.StmtContext(t.ctx, cached)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(t.ctx, query); err != nil {
			return nil, err
		}
	}
	t.stmts[query] = st
	return st, nil
}

// stmtCache holds the statements prepared on the database, by query text. database/sql keeps
// one SQLite statement per connection for each, across transactions.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepareWait bounds how long preparing a statement for the cache may wait for a free
// connection; past it the transaction prepares its own copy instead of waiting behind readers.
const prepareWait = 2 * time.Second

// cachedStmt returns the cached statement for query, preparing it on first use; nil when it
// cannot be prepared now (the caller then prepares one on its own connection).
func (s *Store) cachedStmt(ctx context.Context, query string) *sql.Stmt {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m[query]; ok {
		return st
	}
	// Preparing takes a connection of the pool besides the transaction's own; do not wait
	// long for one (every other connection may be a writer queued behind this transaction).
	pctx, cancel := context.WithTimeout(ctx, prepareWait)
	defer cancel()
	st, err := s.db.PrepareContext(pctx, query)
	if err != nil {
		return nil
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[query] = st
	return st
}

// closeStmts closes the statement cache, before the database.
func (s *Store) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for _, st := range s.stmts.m {
		st.Close()
	}
	s.stmts.m = nil
}

// Exec runs a statement inside the transaction. It is for this package's other files; callers
// outside the package use the typed methods.
func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := t.stmtLocked(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// queryRow is a query expected to return one row, run when its Scan is called: the query and
// the scan then happen under the transaction's lock, so that a statement of the other
// goroutine (the archive's) never runs while the row is open.
func (t *Tx) queryRow(query string, args ...any) txRow { return txRow{t: t, query: query, args: args} }

// txRow is the row of a queryRow.
type txRow struct {
	t     *Tx
	query string
	args  []any
}

// Scan runs the row's query and scans its one row into dest.
func (r txRow) Scan(dest ...any) error {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if st, err := r.t.stmtLocked(r.query); err == nil {
		return st.QueryRowContext(r.t.ctx, r.args...).Scan(dest...)
	}
	return r.t.tx.QueryRowContext(r.t.ctx, r.query, r.args...).Scan(dest...)
}

func (t *Tx) now() int64 { return t.s.Now().Unix() }

func marshalAttrs(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func unmarshalAttrs(s string) map[string]string {
	m := map[string]string{}
	if s != "" && s != "{}" {
		_ = json.Unmarshal([]byte(s), &m)
	}
	return m
}

// nullSource is an id as a statement argument: NULL for none. A plain value, not a
// sql.NullInt64, which database/sql converts without calling a Valuer.
func nullSource(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// UpsertMeter inserts the meter or updates the one with the same key, and sets m.ID.
// Empty fields of m do not erase what an earlier payload said.
func (t *Tx) UpsertMeter(m *Meter) error {
	err := t.queryRow(`INSERT INTO meters (key, source_id, name, commodity, time_zone, attrs, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			source_id = COALESCE(excluded.source_id, meters.source_id),
			name = CASE WHEN excluded.name != '' THEN excluded.name ELSE meters.name END,
			commodity = CASE WHEN excluded.commodity != '' THEN excluded.commodity ELSE meters.commodity END,
			time_zone = CASE WHEN excluded.time_zone != '' THEN excluded.time_zone ELSE meters.time_zone END,
			attrs = json_patch(meters.attrs, excluded.attrs),
			updated = excluded.updated
		RETURNING id`,
		m.Key, nullSource(m.SourceID), m.Name, m.Commodity, m.TimeZone, marshalAttrs(m.Attrs), t.now()).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("upsert meter: %w", err)
	}
	return nil
}

// UpsertSeries inserts the series or updates the one with the same meter and key, and sets
// sr.ID. The later payload's description wins.
func (t *Tx) UpsertSeries(sr *Series) error {
	err := t.queryRow(`INSERT INTO series (meter_id, key, commodity, flow, unit, kind, seconds, currency, attrs, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (meter_id, key) DO UPDATE SET
			commodity = excluded.commodity, flow = excluded.flow, unit = excluded.unit,
			kind = excluded.kind, seconds = excluded.seconds, currency = excluded.currency,
			attrs = json_patch(series.attrs, excluded.attrs), updated = excluded.updated
		RETURNING id`,
		sr.MeterID, sr.Key, sr.Commodity, sr.Flow, sr.Unit, sr.Kind, sr.Seconds, sr.Currency, marshalAttrs(sr.Attrs), t.now()).Scan(&sr.ID)
	if err != nil {
		return fmt.Errorf("upsert series: %w", err)
	}
	return nil
}

// PutReadings upserts readings of one series: a reading with the same start replaces the
// stored one (corrections win; within rs, the later one wins). Each UTC day the readings
// touch is read, merged and written back whole (see store/internal/dayblob).
func (t *Tx) PutReadings(seriesID int64, rs []Reading) error {
	if err := t.maybeCommitBatch(); err != nil {
		return err
	}
	t.days.Lock()
	defer t.days.Unlock()
	for len(rs) > 0 {
		// Readings usually come in order, a day's together; a day that comes back later in rs
		// is merged again, which keeps "the later one wins".
		day := dayblob.DayOf(rs[0].Start)
		n := 1
		for n < len(rs) && dayblob.DayOf(rs[n].Start) == day {
			n++
		}
		if err := t.putReadingDay(seriesID, day, rs[:n]); err != nil {
			return fmt.Errorf("put readings of series %d from %d: %w", seriesID, rs[0].Start, err)
		}
		rs = rs[n:]
	}
	return nil
}

// readingDayScratch is the memory PutReadings reuses from one day to the next.
type readingDayScratch struct {
	sync.Mutex
	stored, merged []Reading
	blob           []byte
}

// putReadingDay merges add, readings of UTC day day, into the day's stored readings.
func (t *Tx) putReadingDay(seriesID, day int64, add []Reading) error {
	var blob []byte
	err := t.queryRow(`SELECT data FROM reading_days WHERE series_id = ? AND day = ?`, seriesID, day).Scan(&blob)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t.days.stored = t.days.stored[:0]
	case err != nil:
		return err
	default:
		if t.days.stored, err = dayblob.Decode(t.days.stored[:0], day, blob); err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
	}
	t.days.merged = dayblob.Merge(t.days.merged, t.days.stored, add)
	t.days.blob = dayblob.Append(t.days.blob[:0], day, t.days.merged)
	_, err = t.exec(`INSERT INTO reading_days (series_id, day, n, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (series_id, day) DO UPDATE SET n = excluded.n, data = excluded.data`,
		seriesID, day, len(t.days.merged), t.days.blob)
	return err
}

// PutSummary upserts a usage summary (bill) and replaces its line items.
func (t *Tx) PutSummary(u *UsageSummary) error {
	err := t.queryRow(`INSERT INTO usage_summaries (meter_id, key, period_start, period_seconds,
			bill_last_period, bill_to_date, cost_additional_last_period, currency, status_time, attrs, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (meter_id, key, period_start) DO UPDATE SET
			period_seconds = excluded.period_seconds, bill_last_period = excluded.bill_last_period,
			bill_to_date = excluded.bill_to_date, cost_additional_last_period = excluded.cost_additional_last_period,
			currency = excluded.currency, status_time = excluded.status_time, attrs = excluded.attrs,
			updated = excluded.updated
		RETURNING id`,
		u.MeterID, u.Key, u.PeriodStart, u.PeriodSeconds, u.BillLastPeriod, u.BillToDate,
		u.CostAdditionalLastPeriod, u.Currency, u.StatusTime, marshalAttrs(u.Attrs), t.now()).Scan(&u.ID)
	if err != nil {
		return fmt.Errorf("put usage summary: %w", err)
	}
	if _, err := t.exec(`DELETE FROM summary_line_items WHERE summary_id = ?`, u.ID); err != nil {
		return fmt.Errorf("put usage summary items: %w", err)
	}
	for i, it := range u.Items {
		if _, err := t.exec(`INSERT INTO summary_line_items (summary_id, position, note, amount, item_kind, measurement, unit, attrs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, u.ID, i, it.Note, it.Amount, it.ItemKind, it.Measurement, it.Unit, marshalAttrs(it.Attrs)); err != nil {
			return fmt.Errorf("put usage summary item %d: %w", i, err)
		}
	}
	return nil
}

// PutCustomerInfo upserts personal data by key.
func (t *Tx) PutCustomerInfo(c CustomerInfo) error {
	if _, err := t.exec(`INSERT INTO customer_info (source_id, kind, key, data, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, data = excluded.data, updated = excluded.updated,
			source_id = COALESCE(excluded.source_id, customer_info.source_id)`,
		nullSource(c.SourceID), c.Kind, c.Key, marshalAttrs(c.Data), t.now()); err != nil {
		return fmt.Errorf("put customer info: %w", err)
	}
	return nil
}

// PutDocument upserts a descriptive document by kind and key.
func (t *Tx) PutDocument(d Document) error {
	if _, err := t.exec(`INSERT INTO documents (source_id, kind, key, data, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data, updated = excluded.updated,
			source_id = COALESCE(excluded.source_id, documents.source_id)`,
		nullSource(d.SourceID), d.Kind, d.Key, marshalAttrs(d.Data), t.now()); err != nil {
		return fmt.Errorf("put document: %w", err)
	}
	return nil
}
