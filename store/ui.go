package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// CostOf sums the cost of a series' readings whose start lies in [from, to); n is how many
// readings carry a cost (0 when the source gives none, so "no cost" is not shown as 0).
func (s *Store) CostOf(ctx context.Context, seriesID, from, to int64) (sum float64, n int64, err error) {
	var total sql.NullFloat64
	err = s.db.QueryRowContext(ctx, `SELECT SUM(cost), COUNT(cost) FROM readings WHERE series_id = ? AND start >= ? AND start < ?`,
		seriesID, from, to).Scan(&total, &n)
	if err != nil {
		return 0, 0, fmt.Errorf("cost of series %d: %w", seriesID, err)
	}
	return total.Float64, n, nil
}

// SpanOf is the start of the first and of the last reading of a series; ok is false when it
// has none. Unlike StatsOf it reads two rows of the primary key, not the whole series, for
// views that chart many meters and need only where their data lies.
func (s *Store) SpanOf(ctx context.Context, seriesID int64) (first, last int64, ok bool, err error) {
	var f, l sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT
		(SELECT start FROM readings WHERE series_id = ? ORDER BY start LIMIT 1),
		(SELECT start FROM readings WHERE series_id = ? ORDER BY start DESC LIMIT 1)`, seriesID, seriesID).Scan(&f, &l)
	if err != nil {
		return 0, 0, false, fmt.Errorf("span of series %d: %w", seriesID, err)
	}
	return f.Int64, l.Int64, f.Valid && l.Valid, nil
}

// SetMeterDisplayName gives meter id the name the user chose; an empty name goes back to the
// source's. It returns ErrNotFound when there is no such meter.
func (s *Store) SetMeterDisplayName(ctx context.Context, id int64, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE meters SET display_name = ? WHERE id = ?`, strings.TrimSpace(name), id)
	if err != nil {
		return fmt.Errorf("rename meter %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rename meter %d: %w", id, ErrNotFound)
	}
	return nil
}

// Totals sums the readings of one series over a period.
type Totals struct {
	Count   int64   // readings with a value
	Missing int64   // readings the source reports as missing
	Sum     float64 // of the values
	// Covered is the seconds the readings with a value span, to tell a whole period from a
	// partial one.
	Covered   int64
	CostSum   float64
	CostCount int64 // readings with a cost; 0 means the source gives none (not a cost of 0)
	Peak      float64
	PeakAt    int64 // start of the (first) reading with the highest value
	First     int64 // start of the first reading with a value, 0 when none
	LastEnd   int64 // end of the last reading with a value, 0 when none
}

// PeriodTotals sums series seriesID's readings whose start lies in [from, to). It is the one
// query the Usage view's cards and comparisons use, so that a faster implementation (rollup
// tables of hourly or daily sums) can replace it without touching the view.
func (s *Store) PeriodTotals(ctx context.Context, seriesID, from, to int64) (Totals, error) {
	var t Totals
	var sum, cost, peak sql.NullFloat64
	var covered, peakAt, first, lastEnd sql.NullInt64
	// The peak's time comes from its own query: SQLite's bare-column rule for MAX() does not
	// hold when the query has other MIN/MAX aggregates.
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(value), COUNT(*) - COUNT(value), SUM(value),
			SUM(CASE WHEN value IS NOT NULL THEN seconds END), SUM(cost), COUNT(cost), MAX(value),
			(SELECT start FROM readings WHERE series_id = ?1 AND start >= ?2 AND start < ?3 AND value IS NOT NULL
				ORDER BY value DESC, start LIMIT 1),
			MIN(CASE WHEN value IS NOT NULL THEN start END), MAX(CASE WHEN value IS NOT NULL THEN start + seconds END)
		FROM readings WHERE series_id = ?1 AND start >= ?2 AND start < ?3`, seriesID, from, to).
		Scan(&t.Count, &t.Missing, &sum, &covered, &cost, &t.CostCount, &peak, &peakAt, &first, &lastEnd)
	if err != nil {
		return t, fmt.Errorf("totals of series %d: %w", seriesID, err)
	}
	t.Sum, t.Covered, t.CostSum = sum.Float64, covered.Int64, cost.Float64
	t.Peak, t.PeakAt, t.First, t.LastEnd = peak.Float64, peakAt.Int64, first.Int64, lastEnd.Int64
	return t, nil
}
