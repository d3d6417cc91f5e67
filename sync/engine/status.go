package engine

import (
	"time"

	"custody/sync/syncerr"
)

// State is what a source's worker is doing.
type State string

// The states of a source.
const (
	StateIdle      State = "idle"            // waiting for its next run
	StateSyncing   State = "syncing"         // a sync is running; see Status.Progress
	StateBackoff   State = "backing off"     // the last sync failed; retrying at Status.NextRun
	StateAttention State = "needs attention" // retrying will not help until the user acts; see Status.Advice
	StateDisabled  State = "disabled"        // the user turned the source off
	StateQueued    State = "queued"          // due, waiting for another source's sync to finish (Engine's MaxConcurrent)
	StateRemoved   State = "removed"         // the source was removed; published once, then absent from Statuses
)

// Status is a snapshot of one source's sync state, published to subscribers on every change.
type Status struct {
	Source string
	Kind   string
	State  State
	// Progress of the running sync, when State is StateSyncing.
	Progress Progress
	// LastSuccess is when a sync last finished without error; LastRun when one last finished.
	LastSuccess time.Time
	LastRun     time.Time
	// LastResult is what the last successful sync brought in.
	LastResult Result
	// LastError is the last failure's message, its kind and what the user can do about it;
	// empty after a success.
	LastError string
	ErrorKind syncerr.Kind
	Advice    string
	// Failures counts consecutive failed syncs.
	Failures int
	// NextRun is when the next sync is scheduled.
	NextRun time.Time
}
