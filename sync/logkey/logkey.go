// Package logkey names the keys of Custody's log lines (log/slog), so that every package logs
// the same thing under the same key and a log can be searched by it. The level policy is in
// ARCHITECTURE.md ("Logging").
//
// A value logged under these keys never holds a secret or personal data: a URL is logged as
// its path (URLPath), an error is redacted by the engine's handler (package redact), and a
// meter, account or event is never logged by its content.
package logkey

const (
	// Op is the operation: "sync", "notify", "dequeue", "GET Batch/Bulk", ...
	Op = "op"
	// Err is the error of the operation, if any.
	Err = "err"
	// Source is the name of the source the line is about.
	Source = "source"
	// Kind is the source's kind ("greenbutton", "obevents", "datahub").
	Kind = "kind"
	// Count is how many things the operation handled: payloads, URIs, failures in a row.
	Count = "count"
	// URLPath is where the operation went: a URL's path (or host and path, or a listener's
	// address), never its query or credentials.
	URLPath = "url-path"
)
