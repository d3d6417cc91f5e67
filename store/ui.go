package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"custody/store/internal/dayblob"
)

// CostOf sums the cost of a series' readings whose start lies in [from, to); n is how many
// readings carry a cost (0 when the source gives none, so "no cost" is not shown as 0).
func (s *Store) CostOf(ctx context.Context, seriesID, from, to int64) (sum float64, n int64, err error) {
	t, err := s.PeriodTotals(ctx, seriesID, from, to)
	if err != nil {
		return 0, 0, fmt.Errorf("cost of series %d: %w", seriesID, err)
	}
	return t.CostSum, t.CostCount, nil
}

// SpanOf is the start of the first and of the last reading of a series; ok is false when it
// has none. Unlike StatsOf it reads the first and the last day of the series, not all of it,
// for views that chart many meters and need only where their data lies.
func (s *Store) SpanOf(ctx context.Context, seriesID int64) (first, last int64, ok bool, err error) {
	var ends [2]int64
	for i, order := range []string{"ASC", "DESC"} {
		var day int64
		var blob []byte
		err := s.db.QueryRowContext(ctx, `SELECT day, data FROM reading_days WHERE series_id = ? ORDER BY day `+order+` LIMIT 1`, seriesID).Scan(&day, &blob)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("span of series %d: %w", seriesID, err)
		}
		rs, err := dayblob.Decode(nil, day, blob)
		if err != nil {
			return 0, 0, false, fmt.Errorf("span of series %d, day %d: %w", seriesID, day, err)
		}
		if len(rs) == 0 {
			return 0, 0, false, fmt.Errorf("span of series %d, day %d: %w: no readings", seriesID, day, dayblob.ErrCorrupt)
		}
		if i == 0 {
			ends[0] = rs[0].Start
		} else {
			ends[1] = rs[len(rs)-1].Start
		}
	}
	return ends[0], ends[1], true, nil
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
	var sum, cost kbnSum
	err := s.eachReading(ctx, seriesID, from, to, func(r *Reading) error {
		if r.HasCost {
			t.CostCount++
			cost.add(r.Cost)
		}
		if r.Missing {
			t.Missing++
			return nil
		}
		if t.Count == 0 {
			t.First, t.LastEnd = r.Start, r.Start+r.Seconds
			t.Peak, t.PeakAt = r.Value, r.Start
		} else if r.Value > t.Peak {
			// The first of equal peaks is the one named.
			t.Peak, t.PeakAt = r.Value, r.Start
		}
		t.Count++
		sum.add(r.Value)
		t.Covered += r.Seconds
		t.LastEnd = max(t.LastEnd, r.Start+r.Seconds)
		return nil
	})
	if err != nil {
		return Totals{}, fmt.Errorf("totals of series %d: %w", seriesID, err)
	}
	t.Sum, t.CostSum = sum.value(), cost.value()
	return t, nil
}
