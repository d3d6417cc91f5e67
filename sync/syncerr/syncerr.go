// Package syncerr classifies sync failures into the few kinds a user can act on.
//
// Every protocol package wraps its failures with [E], so the engine, the CLI and the UI can
// tell "reauthorise at the utility" from "you are offline" without parsing messages.
package syncerr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Kind is what sort of failure an error is, from the user's point of view.
type Kind string

// The kinds of failure.
const (
	Unknown Kind = ""
	Auth    Kind = "authorisation" // credentials wrong, expired or revoked
	Network Kind = "network"       // offline, DNS, TLS, refused, timeout
	Server  Kind = "server"        // the custodian answered 5xx, 429 or something unreadable
	Data    Kind = "data"          // the custodian's data could not be understood
	Config  Kind = "configuration" // the source's settings are incomplete or wrong
	Local   Kind = "local"         // our own disk, database or keyring failed
)

// MaxRetryAfter bounds how long a custodian's Retry-After can postpone a source: the engine
// waits no longer, and messages that quote the wait quote no more.
const MaxRetryAfter = 24 * time.Hour

// Error is a classified failure.
type Error struct {
	Kind Kind
	Op   string // what was being done, such as "token" or "GET Batch/Bulk/1"
	Err  error
	// RetryAfter is how long the custodian asked us to wait, when it said.
	RetryAfter time.Duration
	// Hint is what the user can do, in plain words; empty for the kind's default advice.
	Hint string
}

func (e *Error) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// E wraps err as a failure of the given kind during op.
func E(kind Kind, op string, err error) *Error {
	return &Error{Kind: kind, Op: op, Err: err}
}

// Errorf is E with a formatted message.
func Errorf(kind Kind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err: that of the outermost classified [Error] in its chain (an
// [Error] without a kind passes the question on to what it wraps), else a guess from the
// error's type (network errors are recognised), else Unknown.
func KindOf(err error) Kind {
	if err == nil {
		return Unknown
	}
	for rest := err; rest != nil; {
		var e *Error
		if !errors.As(rest, &e) {
			break
		}
		if e.Kind != Unknown {
			return e.Kind
		}
		rest = e.Err
	}
	var nerr net.Error
	var uerr *url.Error
	var operr *net.OpError
	var dnserr *net.DNSError
	if errors.As(err, &nerr) || errors.As(err, &uerr) || errors.As(err, &operr) || errors.As(err, &dnserr) {
		return Network
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Network
	}
	return Unknown
}

// RetryAfterOf returns how long the custodian asked us to wait, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Advice returns what the user should do about err, in plain words.
func Advice(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		return e.Hint
	}
	var busy interface{ Busy() bool }
	if errors.As(err, &busy) && busy.Busy() {
		return "Another Custody (an import, a sync or the app) is writing to the database: let it finish, then try again. Nothing was lost."
	}
	switch KindOf(err) {
	case Auth:
		return "Authorisation expired or was revoked: check the client id and secret, or reauthorise at the custodian."
	case Network:
		return "The custodian could not be reached: check the network connection and the base URL. Custody will retry by itself."
	case Server:
		return "The custodian had a problem answering. Custody will retry by itself later."
	case Data:
		return "The custodian sent data Custody could not read. It is archived; see Activity for details."
	case Config:
		return "The source's settings are incomplete or wrong: edit the source."
	case Local:
		return "Custody could not write to its own database or keyring: check disk space and that the keyring is unlocked."
	}
	return "An unexpected error happened; details are in the log."
}
