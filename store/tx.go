package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Tx is a write transaction. Its statements are prepared once and reused, because readings
// are written by the hundred thousand.
type Tx struct {
	s     *Store
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt
	done  bool

	// batch, when set, lets readings be committed in batches of about this long, so that a
	// long import does not keep other writers out (see Batched).
	batch   time.Duration
	started time.Time
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
	t.closeStmts()
	t.stmts = map[string]*sql.Stmt{}
	if err := t.tx.Commit(); err != nil {
		t.done = true
		return fmt.Errorf("commit a batch: %w", busyErr("commit", err))
	}
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
	if t.done {
		return fmt.Errorf("commit: transaction already finished")
	}
	t.done = true
	t.closeStmts()
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", busyErr("commit", err))
	}
	return nil
}

// Rollback abandons the transaction. It is safe to call after Commit (it then does nothing),
// so `defer tx.Rollback()` is the usual pattern.
func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.closeStmts()
	return t.tx.Rollback()
}

func (t *Tx) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
}

// stmt returns the prepared statement for query, preparing it on first use.
func (t *Tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// Exec runs a statement inside the transaction. It is for this package's other files; callers
// outside the package use the typed methods.
func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
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

func nullSource(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

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

const upsertReadingHead = `INSERT INTO readings (series_id, start, seconds, value, quality, cost, tou) VALUES `

const upsertReadingTail = `
	ON CONFLICT (series_id, start) DO UPDATE SET
		seconds = excluded.seconds, value = excluded.value, quality = excluded.quality,
		cost = excluded.cost, tou = excluded.tou`

// readingRows is how many readings one multi-row INSERT carries. One statement per row spends
// most of its time in database/sql and statement setup; 64 rows per statement roughly halve
// the cost of a reading.
const readingRows = 64

// upsertReadings returns the upsert statement for n rows. The series id is parameter ?1,
// shared by every row; with sharedQuality the quality is ?2, shared too (a batch usually has
// one quality code throughout), which saves binding — and for text, copying — it per row.
func upsertReadings(n int, sharedQuality bool) string {
	row := "(?1, ?, ?, ?, ?, ?, ?)"
	if sharedQuality {
		row = "(?1, ?, ?, ?, ?2, ?, ?)"
	}
	var b strings.Builder
	b.WriteString(upsertReadingHead)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if sharedQuality && i == 0 {
			// ?2 must be numbered before the first bare "?", which takes the next free number.
			b.WriteString("(?1, ?3, ?4, ?5, ?2, ?6, ?7)")
			continue
		}
		b.WriteString(row)
	}
	b.WriteString(upsertReadingTail)
	return b.String()
}

// readingStatements are the upsert statements by row count and shared quality.
var readingStatements = map[[2]int]string{}

func init() {
	for _, n := range []int{1, 8, readingRows} {
		readingStatements[[2]int{n, 0}] = upsertReadings(n, false)
		readingStatements[[2]int{n, 1}] = upsertReadings(n, true)
	}
}

// PutReadings upserts readings of one series: a reading with the same start replaces the
// stored one (corrections win; within rs, the later one wins).
func (t *Tx) PutReadings(seriesID int64, rs []Reading) error {
	if err := t.maybeCommitBatch(); err != nil {
		return err
	}
	args := make([]any, 0, 2+6*min(len(rs), readingRows))
	for len(rs) > 0 {
		n := 1
		switch {
		case len(rs) >= readingRows:
			n = readingRows
		case len(rs) >= 8:
			n = 8
		}
		shared := rs[0].Quality != ""
		for i := 1; i < n && shared; i++ {
			shared = rs[i].Quality == rs[0].Quality
		}
		key := [2]int{n, 0}
		args = append(args[:0], seriesID)
		if shared {
			key[1] = 1
			args = append(args, rs[0].Quality)
		}
		st, err := t.stmt(readingStatements[key])
		if err != nil {
			return fmt.Errorf("put readings: %w", err)
		}
		for i := range rs[:n] {
			r := &rs[i]
			// Plain values and nil rather than sql.Null*: database/sql converts those without
			// calling a Valuer, which is measurably cheaper at hundreds of thousands of rows.
			var value, cost, tou any
			if !r.Missing {
				value = r.Value
			}
			if r.HasCost {
				cost = r.Cost
			}
			if r.HasTOU {
				tou = r.TOU
			}
			if shared {
				args = append(args, r.Start, r.Seconds, value, cost, tou)
				continue
			}
			var quality any
			if r.Quality != "" {
				quality = r.Quality
			}
			args = append(args, r.Start, r.Seconds, value, quality, cost, tou)
		}
		if _, err := st.ExecContext(t.ctx, args...); err != nil {
			return fmt.Errorf("put readings of series %d from %d: %w", seriesID, rs[0].Start, err)
		}
		rs = rs[n:]
	}
	return nil
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
