// Package engine runs the syncs of every configured source in the background and says how each
// one is doing.
//
// A source kind is a [Driver]: it fetches what is new for one source, stores it (archive
// first, then parse and upsert in one transaction, then acknowledge), and classifies its
// errors with package syncerr. A driver also describes its kind's settings (package
// settings), from which the command line, the GUI form and `custody sources list` are made,
// so a new kind is its driver package plus one line in app/wiring.go.
//
// An [Engine] keeps one worker per enabled source. Each worker waits for the source's
// [Interval] (or a "sync now"), runs one sync under a time limit with at most
// Config.MaxConcurrent syncs at a time, records the run in the store and, on failure, backs
// off exponentially (honouring a custodian's Retry-After, capped at [MaxRetryAfter]). After a
// failure the user must act on (settings, credentials, consent) it tries again only now and
// then (at most every BackoffMax), and at once when the source is edited. Every change is published as a [Status] snapshot to subscribers
// ([Engine.Subscribe]) without ever blocking the engine: a slow subscriber gets the latest
// snapshot of each source and skips the ones in between.
//
// [Engine.SyncOnce] runs one sync in the caller's goroutine (`custody sync --once`); the GUI
// and `custody sync` use [Engine.Start]. Secrets reach drivers only through [Secrets], and the
// engine redacts them from a run's errors and log lines.
package engine
