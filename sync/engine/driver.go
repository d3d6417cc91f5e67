package engine

import (
	"context"
	"log/slog"
	"time"

	"custody/store"
	"custody/sync/settings"
)

// Secrets reads the secrets of a source. The app gives the engine the OS keyring (or, in demo
// mode only, an in-memory store); sync packages never import a keyring themselves.
type Secrets interface {
	// Secret returns the value of one field (such as "client_secret") of the named source.
	Secret(source, field string) (string, error)
}

// Progress is how far a running sync has come.
type Progress struct {
	Done, Total int64  // Total is 0 when unknown
	Message     string // what is happening, such as "GET Batch/Bulk/1"
}

// Job is what a driver needs to sync one source once.
type Job struct {
	Source  store.Source
	Store   *store.Store
	Secrets Secrets
	Logger  *slog.Logger
	// Progress reports progress; it never blocks. It is never nil.
	Progress func(Progress)
}

// Result is what one sync brought in.
type Result struct {
	Items    int64 // payloads, events or documents stored
	Readings int64
	Note     string // a one-line summary for the user, such as "3 events, 1 rejected"
	// NextIn, when set, asks for the next run sooner than the source's interval, such as
	// when a custodian answered 202 "not ready yet".
	NextIn time.Duration
}

// Driver syncs sources of one kind. Drivers are safe for concurrent use on different sources.
type Driver interface {
	// Kind is the source kind the driver handles, such as "greenbutton".
	Kind() string
	// Sync fetches what is new for the source, stores it, and acknowledges what it stored.
	// Errors are classified with package syncerr.
	Sync(ctx context.Context, job *Job) (Result, error)
	// Test checks the source's settings and credentials with one harmless request and says
	// what it found in plain words.
	Test(ctx context.Context, job *Job) (string, error)
	// Describe describes the kind's settings (package settings), from which the command
	// line's flags, the GUI's form and `custody sources list` are made.
	settings.Describer
}

// Remover is a driver that registers something at the custodian (an Open Banking event
// subscription) which removing the source should delete there.
type Remover interface {
	// Remove deletes the source's registration at the custodian and says what it did.
	Remove(ctx context.Context, job *Job) (string, error)
}
