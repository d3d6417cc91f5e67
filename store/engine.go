package store

import (
	"context"
	"fmt"
	"time"
)

// CloseStaleRuns records as cancelled every sync run still marked running that started before
// the given time: the process running it stopped (a crash, a kill, a power cut) before it could
// record its end. It returns how many it closed.
func (s *Store) CloseStaleRuns(ctx context.Context, startedBefore time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE sync_runs SET status = 'cancelled', finished = ?,
			error = 'Custody stopped before this sync finished; what it had stored is kept'
		WHERE finished IS NULL AND started < ?`, s.Now().Unix(), startedBefore.Unix())
	if err != nil {
		return 0, fmt.Errorf("close stale sync runs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
