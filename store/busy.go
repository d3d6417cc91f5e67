package store

import (
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
)

// BusyTimeout is how long a writer waits for another writer (another `custody import`, a sync,
// the app) to finish before giving up with a busy error. Long imports commit in batches of
// [ImportBatch], so a writer waiting beside one gets a turn well within it.
const BusyTimeout = 2 * time.Minute

// ImportBatch is how long an import holds the write lock before it commits what it has and
// lets a waiting writer in.
const ImportBatch = 2 * time.Second

// batchYield is how long an import pauses after a batch commit: SQLite's busy handler sleeps up
// to 100 ms between tries, and a waiter must find the lock free when it wakes.
const batchYield = 110 * time.Millisecond

// BusyError is a write that gave up waiting for another writer.
type BusyError struct {
	Op  string
	Err error
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s: the database is busy: another Custody (an import, a sync or the app) "+
		"has been writing to it for over %s", e.Op, BusyTimeout)
}

func (e *BusyError) Unwrap() error { return e.Err }

// Busy marks the error for package syncerr, which gives it its own advice.
func (e *BusyError) Busy() bool { return true }

// sqliteBusy is SQLite's primary result code for a lock held by another connection.
const sqliteBusy = 5

// busyErr returns err as a *BusyError when SQLite gave up waiting for a lock, else err.
func busyErr(op string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteBusy {
		return &BusyError{Op: op, Err: err}
	}
	return err
}
