package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"custody/store/internal/dayblob"
)

const meterColumns = `id, key, COALESCE(source_id, 0), name, display_name, commodity, time_zone, attrs`

func scanMeter(sc rowScanner) (Meter, error) {
	var m Meter
	var attrs string
	err := sc.Scan(&m.ID, &m.Key, &m.SourceID, &m.Name, &m.DisplayName, &m.Commodity, &m.TimeZone, &attrs)
	m.Attrs = unmarshalAttrs(attrs)
	return m, err
}

// MeterFilter selects meters.
type MeterFilter struct {
	Search string // substring of the key, name or display name, case-insensitive; empty for all
	Limit  int    // 0 for no limit
}

// Meters lists meters by key.
func (s *Store) Meters(ctx context.Context, f MeterFilter) ([]Meter, error) {
	q := `SELECT ` + meterColumns + ` FROM meters WHERE (? = '' OR key LIKE ? OR name LIKE ? OR display_name LIKE ?) ORDER BY key`
	like := "%" + strings.ReplaceAll(f.Search, "%", "") + "%"
	args := []any{f.Search, like, like, like}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, s.db, "list meters", scanMeter, q, args...)
}

const seriesColumns = `id, meter_id, key, commodity, flow, unit, kind, seconds, currency, attrs`

func scanSeries(sc rowScanner) (Series, error) {
	var sr Series
	var attrs string
	err := sc.Scan(&sr.ID, &sr.MeterID, &sr.Key, &sr.Commodity, &sr.Flow, &sr.Unit, &sr.Kind, &sr.Seconds, &sr.Currency, &attrs)
	sr.Attrs = unmarshalAttrs(attrs)
	return sr, err
}

// SeriesOf lists the series of a meter by key; meterID 0 lists every series.
func (s *Store) SeriesOf(ctx context.Context, meterID int64) ([]Series, error) {
	return queryAll(ctx, s.db, "list series", scanSeries,
		`SELECT `+seriesColumns+` FROM series WHERE ? = 0 OR meter_id = ? ORDER BY meter_id, key`, meterID, meterID)
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
	var sum, cost kbnSum
	err := s.eachReading(ctx, seriesID, minStart, maxStart, func(r *Reading) error {
		if st.Count == 0 {
			st.First, st.LastEnd = r.Start, r.Start+r.Seconds
		}
		st.Count++
		st.Last = r.Start
		st.LastEnd = max(st.LastEnd, r.Start+r.Seconds)
		if r.Missing {
			st.Missing++
		} else {
			sum.add(r.Value)
		}
		if r.HasCost {
			st.CostCount++
			cost.add(r.Cost)
		}
		return nil
	})
	if err != nil {
		return SeriesStats{}, fmt.Errorf("stats of series %d: %w", seriesID, err)
	}
	st.Sum, st.CostSum = sum.value(), cost.value()
	return st, nil
}

// minStart and maxStart bound every reading's start: a range from one to the other is all of
// a series.
const (
	minStart = -(1 << 62)
	maxStart = 1<<62 - 1
)

// eachReading calls fn for each reading of series seriesID whose start lies in [from, to),
// in order of start. The reading passed is reused for the next one.
func (s *Store) eachReading(ctx context.Context, seriesID, from, to int64, fn func(*Reading) error) error {
	if from >= to {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, readingDaysQuery, seriesID, dayblob.DayOf(from), dayblob.DayOf(to-1))
	if err != nil {
		return err
	}
	return scanReadingDays(rows, seriesID, from, to, fn)
}

// readingDaysQuery selects a series' packed days from one day to another, both included.
const readingDaysQuery = `SELECT day, data FROM reading_days WHERE series_id = ? AND day >= ? AND day <= ? ORDER BY day`

// scanReadingDays decodes the rows of readingDaysQuery and calls fn for each reading whose
// start lies in [from, to). It closes rows.
func scanReadingDays(rows *sql.Rows, seriesID, from, to int64, fn func(*Reading) error) error {
	defer rows.Close()
	var (
		day  int64
		blob sql.RawBytes
		rs   []Reading
		err  error
	)
	for rows.Next() {
		if err := rows.Scan(&day, &blob); err != nil {
			return err
		}
		if rs, err = dayblob.Decode(rs[:0], day, blob); err != nil {
			return fmt.Errorf("series %d, day %d: %w", seriesID, day, err)
		}
		for i := range rs {
			if rs[i].Start < from || rs[i].Start >= to {
				continue
			}
			if err := fn(&rs[i]); err != nil {
				return err
			}
		}
	}
	return rows.Err()
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
		(SELECT COALESCE(SUM(n), 0) FROM reading_days), (SELECT COUNT(*) FROM usage_summaries), (SELECT COUNT(*) FROM events),
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
	err = s.eachReading(ctx, seriesID, from, to, func(r *Reading) error {
		if !r.Missing {
			starts = append(starts, r.Start)
			values = append(values, r.Value)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("readings of series %d: %w", seriesID, err)
	}
	return starts, values, nil
}

// ExportFilter selects readings to export.
type ExportFilter struct {
	From, To int64  // unix seconds; 0 for unbounded. A reading is included when From <= start < To.
	Meter    string // meter key; empty for all
	// Series, when not empty, keeps only the series with these keys (of the meter chosen).
	Series []string
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
		to = maxStart
	}
	from := f.From
	if from == 0 {
		from = minStart
	}
	type seriesRow struct {
		id int64
		ExportSeries
	}
	series, err := queryAll(ctx, s.db, "export: list series", func(sc rowScanner) (seriesRow, error) {
		var sr seriesRow
		err := sc.Scan(&sr.id, &sr.Meter, &sr.Series, &sr.Commodity, &sr.Flow, &sr.Unit, &sr.Currency)
		return sr, err
	}, `SELECT s.id, m.key, s.key, s.commodity, s.flow, s.unit, s.currency
		FROM meters m JOIN series s ON s.meter_id = m.id
		WHERE (? = '' OR m.key = ?)
		ORDER BY m.key, s.key`, f.Meter, f.Meter)
	if err != nil {
		return fmt.Errorf("export: list series: %w", err)
	}
	if len(f.Series) > 0 {
		series = slices.DeleteFunc(series, func(sr seriesRow) bool { return !slices.Contains(f.Series, sr.Series) })
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, readingDaysQuery)
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
	if from >= to {
		return nil
	}
	rows, err := stmt.QueryContext(ctx, id, dayblob.DayOf(from), dayblob.DayOf(to-1))
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// What the callbacks return goes back as it is; only reading the store gets "export:".
	first, cbErr := true, error(nil)
	err = scanReadingDays(rows, id, from, to, func(r *Reading) error {
		if first {
			if cbErr = announce(); cbErr != nil {
				return cbErr
			}
			first = false
		}
		cbErr = onReading(r)
		return cbErr
	})
	switch {
	case cbErr != nil:
		return cbErr
	case err != nil:
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
