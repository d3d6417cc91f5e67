package store

import (
	"context"
	"database/sql"
	"fmt"
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
