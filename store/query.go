package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

const meterColumns = `id, key, COALESCE(source_id, 0), name, commodity, time_zone, attrs`

func scanMeter(sc interface{ Scan(...any) error }) (Meter, error) {
	var m Meter
	var attrs string
	err := sc.Scan(&m.ID, &m.Key, &m.SourceID, &m.Name, &m.Commodity, &m.TimeZone, &attrs)
	m.Attrs = unmarshalAttrs(attrs)
	return m, err
}

// MeterFilter selects meters.
type MeterFilter struct {
	Search string // substring of the key or name, case-insensitive; empty for all
	Limit  int    // 0 for no limit
}

// Meters lists meters by key.
func (s *Store) Meters(ctx context.Context, f MeterFilter) ([]Meter, error) {
	q := `SELECT ` + meterColumns + ` FROM meters WHERE (? = '' OR key LIKE ? OR name LIKE ?) ORDER BY key`
	like := "%" + strings.ReplaceAll(f.Search, "%", "") + "%"
	args := []any{f.Search, like, like}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list meters: %w", err)
	}
	defer rows.Close()
	var out []Meter
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, fmt.Errorf("list meters: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

const seriesColumns = `id, meter_id, key, commodity, flow, unit, kind, seconds, currency, attrs`

func scanSeries(sc interface{ Scan(...any) error }) (Series, error) {
	var sr Series
	var attrs string
	err := sc.Scan(&sr.ID, &sr.MeterID, &sr.Key, &sr.Commodity, &sr.Flow, &sr.Unit, &sr.Kind, &sr.Seconds, &sr.Currency, &attrs)
	sr.Attrs = unmarshalAttrs(attrs)
	return sr, err
}

// SeriesOf lists the series of a meter by key; meterID 0 lists every series.
func (s *Store) SeriesOf(ctx context.Context, meterID int64) ([]Series, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+seriesColumns+` FROM series WHERE ? = 0 OR meter_id = ? ORDER BY meter_id, key`, meterID, meterID)
	if err != nil {
		return nil, fmt.Errorf("list series: %w", err)
	}
	defer rows.Close()
	var out []Series
	for rows.Next() {
		sr, err := scanSeries(rows)
		if err != nil {
			return nil, fmt.Errorf("list series: %w", err)
		}
		out = append(out, sr)
	}
	return out, rows.Err()
}

// SeriesStats summarises the readings of one series.
type SeriesStats struct {
	Count     int64
	Missing   int64
	Sum       float64
	First     int64 // start of the first reading, unix seconds
	Last      int64 // start of the last reading
	LastEnd   int64 // end of the last reading
	CostSum   float64
	CostCount int64
}

// StatsOf summarises the readings of a series.
func (s *Store) StatsOf(ctx context.Context, seriesID int64) (SeriesStats, error) {
	var st SeriesStats
	var first, last, lastEnd sql.NullInt64
	var sum, cost sql.NullFloat64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) - COUNT(value), SUM(value), MIN(start), MAX(start), MAX(start + seconds),
			SUM(cost), COUNT(cost) FROM readings WHERE series_id = ?`, seriesID).
		Scan(&st.Count, &st.Missing, &sum, &first, &last, &lastEnd, &cost, &st.CostCount)
	if err != nil {
		return st, fmt.Errorf("stats of series %d: %w", seriesID, err)
	}
	st.Sum, st.First, st.Last, st.LastEnd, st.CostSum = sum.Float64, first.Int64, last.Int64, lastEnd.Int64, cost.Float64
	return st, nil
}

// Counts is how much the store holds.
type Counts struct {
	Sources, Meters, Series, Readings, Summaries, Events, Messages, Payloads, PendingAcks int64
}

// Counts counts the rows of the main tables.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM sources), (SELECT COUNT(*) FROM meters), (SELECT COUNT(*) FROM series),
		(SELECT COUNT(*) FROM readings), (SELECT COUNT(*) FROM usage_summaries), (SELECT COUNT(*) FROM events),
		(SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM payloads), (SELECT COUNT(*) FROM pending_acks)`).
		Scan(&c.Sources, &c.Meters, &c.Series, &c.Readings, &c.Summaries, &c.Events, &c.Messages, &c.Payloads, &c.PendingAcks)
	if err != nil {
		return c, fmt.Errorf("count: %w", err)
	}
	return c, nil
}

// ReadingRange returns the readings of a series whose start lies in [from, to), in order, as
// parallel slices ready for a chart. Missing readings are left out.
func (s *Store) ReadingRange(ctx context.Context, seriesID, from, to int64) (starts []int64, values []float64, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT start, value FROM readings WHERE series_id = ? AND start >= ? AND start < ? AND value IS NOT NULL ORDER BY start`, seriesID, from, to)
	if err != nil {
		return nil, nil, fmt.Errorf("readings of series %d: %w", seriesID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		var v float64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, nil, fmt.Errorf("readings of series %d: %w", seriesID, err)
		}
		starts = append(starts, t)
		values = append(values, v)
	}
	return starts, values, rows.Err()
}

// ExportFilter selects readings to export.
type ExportFilter struct {
	From, To int64  // unix seconds; 0 for unbounded. A reading is included when From <= start < To.
	Meter    string // meter key; empty for all
}

// ExportRow is one reading with its meter and series, as the CSV contract lists it.
type ExportRow struct {
	Meter     string
	Series    string
	Commodity string
	Flow      string
	Unit      string
	Currency  string
	Reading   Reading
}

// ExportSeries is a series as the export names it: the columns every one of its readings
// shares.
type ExportSeries struct {
	Meter     string
	Series    string
	Commodity string
	Flow      string
	Unit      string
	Currency  string
}

// ExportReadings streams every selected reading, sorted by meter, series and start, to fn.
func (s *Store) ExportReadings(ctx context.Context, f ExportFilter, fn func(ExportRow) error) error {
	var row ExportRow
	return s.ExportBySeries(ctx, f, func(sr ExportSeries) error {
		row = ExportRow{Meter: sr.Meter, Series: sr.Series, Commodity: sr.Commodity, Flow: sr.Flow, Unit: sr.Unit, Currency: sr.Currency}
		return nil
	}, func(r *Reading) error {
		row.Reading = *r
		return fn(row)
	})
}

// ExportBySeries streams the selected readings series by series, sorted by meter, series and
// start: onSeries is called before each series' readings, then onReading for each of them.
// The reading passed to onReading is reused for the next one.
//
// It reads the few series first and then each series' readings in primary-key order, so
// SQLite never sorts the readings and no meter or series text is copied per reading: this is
// what makes an export of millions of readings fast and flat in memory (BENCHMARKS-export.md).
func (s *Store) ExportBySeries(ctx context.Context, f ExportFilter, onSeries func(ExportSeries) error, onReading func(*Reading) error) error {
	to := f.To
	if to == 0 {
		to = 1<<62 - 1
	}
	from := f.From
	if from == 0 {
		from = -(1 << 62)
	}
	type seriesRow struct {
		id int64
		ExportSeries
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, m.key, s.key, s.commodity, s.flow, s.unit, s.currency
		FROM meters m JOIN series s ON s.meter_id = m.id
		WHERE (? = '' OR m.key = ?)
		ORDER BY m.key, s.key`, f.Meter, f.Meter)
	if err != nil {
		return fmt.Errorf("export: list series: %w", err)
	}
	var series []seriesRow
	for rows.Next() {
		var sr seriesRow
		if err := rows.Scan(&sr.id, &sr.Meter, &sr.Series, &sr.Commodity, &sr.Flow, &sr.Unit, &sr.Currency); err != nil {
			rows.Close()
			return fmt.Errorf("export: list series: %w", err)
		}
		series = append(series, sr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export: list series: %w", err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, `SELECT start, seconds, value, quality, cost, tou
		FROM readings WHERE series_id = ? AND start >= ? AND start < ? ORDER BY start`)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer stmt.Close()
	for _, sr := range series {
		if err := s.exportSeries(ctx, stmt, sr.id, from, to, func() error { return onSeries(sr.ExportSeries) }, onReading); err != nil {
			return err
		}
	}
	return nil
}

// exportSeries streams one series' readings; announce is called before the first one, so a
// series with no reading in the period is left out.
func (s *Store) exportSeries(ctx context.Context, stmt *sql.Stmt, id, from, to int64, announce func() error, onReading func(*Reading) error) error {
	rows, err := stmt.QueryContext(ctx, id, from, to)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	var (
		r       Reading
		value   sql.NullFloat64
		quality sql.NullString
		cost    sql.NullFloat64
		tou     sql.NullInt64
		first   = true
	)
	for rows.Next() {
		if err := rows.Scan(&r.Start, &r.Seconds, &value, &quality, &cost, &tou); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if first {
			if err := announce(); err != nil {
				return err
			}
			first = false
		}
		r.Value, r.Missing = value.Float64, !value.Valid
		r.Quality = quality.String
		r.Cost, r.HasCost = cost.Float64, cost.Valid
		r.TOU, r.HasTOU = tou.Int64, tou.Valid
		if err := onReading(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
