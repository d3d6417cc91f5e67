package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts bound every exchange of the clients this package makes, so that no download waits
// for ever on a server that stopped sending (silent) or sends a byte now and then (dripping).
type Timeouts struct {
	// Dial and TLSHandshake bound connecting and the TLS handshake.
	Dial, TLSHandshake time.Duration
	// Answer is how long the server may take, once asked, to start its answer (the response
	// headers).
	Answer time.Duration
	// Stall and MinProgress: while the client waits on an answer's body, at least MinProgress
	// bytes must arrive in every Stall period (like curl's low-speed limit); fewer, and the
	// server is taken to have stopped sending. A period in which the client spent less than
	// half the time waiting in Read (busy writing what it read) does not count against the
	// server. MinProgress 1 is a plain idle-read timeout.
	Stall       time.Duration
	MinProgress int64
	// Base and MinRate make the overall deadline of one exchange: Base plus the time the
	// largest answer allowed (see [WithBodyLimit]) takes at MinRate bytes a second.
	Base    time.Duration
	MinRate int64
}

// DefaultTimeouts are the timeouts of every client unless a caller says otherwise.
var DefaultTimeouts = Timeouts{
	Dial:         DialTimeout,
	TLSHandshake: TLSHandshakeTimeout,
	Answer:       AnswerTimeout,
	Stall:        60 * time.Second,
	MinProgress:  1 << 10,
	Base:         5 * time.Minute,
	MinRate:      64 << 10,
}

// DefaultBodyLimit is the largest answer a request expects when its caller did not say
// ([WithBodyLimit]); it scales the overall deadline only, it is not enforced.
const DefaultBodyLimit = 16 << 20

// withDefaults fills the zero fields of t from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	if t.Dial > 0 {
		d.Dial = t.Dial
	}
	if t.TLSHandshake > 0 {
		d.TLSHandshake = t.TLSHandshake
	}
	if t.Answer > 0 {
		d.Answer = t.Answer
	}
	if t.Stall > 0 {
		d.Stall = t.Stall
	}
	if t.MinProgress > 0 {
		d.MinProgress = t.MinProgress
	}
	if t.Base > 0 {
		d.Base = t.Base
	}
	if t.MinRate > 0 {
		d.MinRate = t.MinRate
	}
	return d
}

// Deadline is the overall time allowed for an exchange whose answer may be up to limit bytes.
func (t Timeouts) Deadline(limit int64) time.Duration {
	t = t.withDefaults()
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	return t.Base + time.Duration(float64(limit)/float64(t.MinRate)*float64(time.Second))
}

type ctxKey int

const (
	keyTimeouts ctxKey = iota
	keyBodyLimit
)

// WithTimeouts returns ctx whose requests use t (zero fields: the client's own) for the
// answer, stall and overall deadline. Tests use it to make a stalled download fail fast.
func WithTimeouts(ctx context.Context, t Timeouts) context.Context {
	return context.WithValue(ctx, keyTimeouts, t)
}

// WithBodyLimit returns ctx whose requests expect answers of at most limit bytes, which scales
// their overall deadline. The caller still enforces the limit when it reads.
func WithBodyLimit(ctx context.Context, limit int64) context.Context {
	return context.WithValue(ctx, keyBodyLimit, limit)
}

// StallError is an exchange ended because the server stopped sending.
type StallError struct {
	// Phase is "handshake" (no TLS handshake in time), "answer" (no response headers in time),
	// "body" (too little of the body in a Stall period) or "deadline" (the whole exchange took
	// too long).
	Phase string
	// After is the time allowed; Read is how many body bytes had arrived.
	After time.Duration
	Read  int64
	// MinProgress and Limit are the figures the message quotes.
	MinProgress, Limit int64
}

// Error says that the server stopped sending, and after what.
func (e *StallError) Error() string {
	switch e.Phase {
	case "answer":
		return fmt.Sprintf("the server stopped sending: no answer within %s", e.After)
	case "handshake":
		return fmt.Sprintf("the server stopped sending: no TLS handshake within %s", e.After)
	case "body":
		what := "no data"
		if e.MinProgress > 1 {
			what = "less than " + byteCount(e.MinProgress)
		}
		return fmt.Sprintf("the server stopped sending: %s in %s (after %s of the answer)", what, e.After, byteCount(e.Read))
	}
	return fmt.Sprintf("the server stopped sending at a useful rate: the answer took longer than the %s allowed for up to %s (after %s)",
		e.After, byteCount(e.Limit), byteCount(e.Read))
}

// Timeout reports true: a stall is a kind of timeout (net.Error).
func (e *StallError) Timeout() bool { return true }

// Temporary reports true: trying again later may work (net.Error).
func (e *StallError) Temporary() bool { return true }

func byteCount(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// guardTransport ends an exchange whose server stopped sending: no answer in time, too little
// of the body per stall period, or the whole exchange past its deadline. It cancels the
// request and returns (or makes the body's Read return) a [StallError].
type guardTransport struct {
	base http.RoundTripper
	t    Timeouts
}

// guarded returns rt behind the guard, unless it already is.
func guarded(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = defaultClient().Transport
	}
	switch rt := rt.(type) {
	case *guardTransport:
		return rt
	case *Transport:
		if _, ok := rt.Base.(*guardTransport); ok {
			return rt
		}
	}
	return &guardTransport{base: rt, t: DefaultTimeouts}
}

// RoundTrip implements http.RoundTripper.
func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := g.t
	if over, ok := req.Context().Value(keyTimeouts).(Timeouts); ok {
		if over.Answer > 0 {
			t.Answer = over.Answer
		}
		if over.Stall > 0 {
			t.Stall = over.Stall
		}
		if over.MinProgress > 0 {
			t.MinProgress = over.MinProgress
		}
		if over.Base > 0 {
			t.Base = over.Base
		}
		if over.MinRate > 0 {
			t.MinRate = over.MinRate
		}
	}
	t = t.withDefaults()
	limit, _ := req.Context().Value(keyBodyLimit).(int64)
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watch{cancel: cancel, t: t, limit: limit}
	total := t.Deadline(limit)
	w.overall = time.AfterFunc(total, func() {
		w.stop(&StallError{Phase: "deadline", After: total, Read: w.read.Load(), Limit: limit})
	})
	answer := time.AfterFunc(t.Answer, func() { w.stop(&StallError{Phase: "answer", After: t.Answer}) })
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	answer.Stop()
	if err != nil {
		w.overall.Stop()
		if se := stallOf(ctx); se != nil {
			cancel(nil)
			return nil, fmt.Errorf("%w (%w)", se, err)
		}
		cancel(nil)
		if strings.Contains(err.Error(), "TLS handshake timeout") {
			// net/http's own error type for it is unexported.
			return nil, fmt.Errorf("%w (%w)", &StallError{Phase: "handshake", After: g.t.TLSHandshake}, err)
		}
		return nil, err
	}
	if se := stallOf(ctx); se != nil {
		resp.Body.Close()
		w.overall.Stop()
		cancel(nil)
		return nil, se
	}
	w.ctx = ctx
	w.rc = resp.Body
	w.mu.Lock()
	w.lastCheck.Store(time.Now().UnixNano())
	w.progress = time.AfterFunc(t.Stall, w.check)
	w.mu.Unlock()
	resp.Body = w
	return resp, nil
}

// stallOf returns the StallError ctx was cancelled with, if any.
func stallOf(ctx context.Context) *StallError {
	var se *StallError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// watch is a guarded answer's body and the timers that watch it.
type watch struct {
	cancel context.CancelCauseFunc
	t      Timeouts
	limit  int64
	ctx    context.Context
	rc     io.ReadCloser

	read atomic.Int64 // body bytes so far
	// A slow reader is not a slow server: only the time spent waiting in Read counts.
	readStart atomic.Int64 // UnixNano when the Read in progress began; 0 when none
	waited    atomic.Int64 // nanoseconds spent waiting in Read since the last check
	lastCheck atomic.Int64 // UnixNano of the last check
	mu        sync.Mutex
	closed    bool
	mark      int64 // read at the last check
	ended     bool  // the body was read to its end (Read is not called concurrently)
	overall   *time.Timer
	progress  *time.Timer
}

// stop ends the exchange with cause.
func (w *watch) stop(cause *StallError) { w.cancel(cause) }

// check runs every Stall period while the body is open.
func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	now := time.Now().UnixNano()
	waited := w.waited.Swap(0)
	if start := w.readStart.Load(); start != 0 {
		waited += now - max(start, w.lastCheck.Load())
	}
	w.lastCheck.Store(now)
	read := w.read.Load()
	// Stalled: the client spent at least half the period waiting for the server, and too
	// little came.
	if waited >= int64(w.t.Stall/2) && read-w.mark < w.t.MinProgress {
		w.stop(&StallError{Phase: "body", After: w.t.Stall, Read: read, MinProgress: w.t.MinProgress})
		return
	}
	w.mark = read
	w.progress.Reset(w.t.Stall)
}

// Read reads the body; after a stall it returns the [StallError].
func (w *watch) Read(p []byte) (int, error) {
	start := time.Now().UnixNano()
	w.readStart.Store(start)
	n, err := w.rc.Read(p)
	end := time.Now().UnixNano()
	w.readStart.Store(0)
	if from := max(start, w.lastCheck.Load()); end > from {
		w.waited.Add(end - from)
	}
	w.read.Add(int64(n))
	if w.ended {
		return n, err
	}
	if errors.Is(err, io.EOF) && stallOf(w.ctx) == nil {
		w.ended = true // the whole body arrived: whatever fires later changes nothing
		return n, err
	}
	if err != nil {
		// After a stall the transport may report the cut connection as an end of body: it is
		// not one.
		if se := stallOf(w.ctx); se != nil {
			err = se
		}
	}
	return n, err
}

// Close closes the body and stops the timers.
func (w *watch) Close() error {
	w.mu.Lock()
	w.closed = true
	w.progress.Stop()
	w.overall.Stop()
	w.mu.Unlock()
	err := w.rc.Close()
	w.cancel(nil)
	return err
}

// TooLargeError is an answer larger than its caller accepts.
type TooLargeError struct {
	// What names the answer, such as "the token answer".
	What  string
	Limit int64
}

// Error says what was too large and the limit.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %s", e.What, byteCount(e.Limit))
}

// ReadBody reads all of r up to limit bytes; a longer answer is a [TooLargeError] naming what.
// A read that fails (a stall, a reset) returns its error.
func ReadBody(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], &TooLargeError{What: what, Limit: limit}
	}
	return b, nil
}
