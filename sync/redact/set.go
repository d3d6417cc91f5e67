package redact

import (
	"context"
	"slices"
	"sync"
)

// Set is the secrets of one piece of work (a sync, a test, a connection): those read from the
// keyring and the tokens got or sent on the way (access, refresh and id tokens, a data-access
// token, a client assertion). Tokens live only in memory, so the code that holds one says so
// with [Remember]; whatever quotes a server's answer redacts with [Secrets] of its context.
// The zero value is empty and ready; a nil *Set remembers nothing. It is safe for concurrent
// use.
type Set struct {
	mu   sync.Mutex
	list []string
}

// maxSet bounds a set, so that a long run that renews its token often cannot grow it without
// end; the oldest secrets go first (they are the least likely to be echoed).
const maxSet = 256

// Add remembers secrets; empty and short values (see [String]) and ones already known are
// skipped.
func (s *Set) Add(secrets ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) < minSecret || slices.Contains(s.list, sec) {
			continue
		}
		if len(s.list) == maxSet {
			s.list = slices.Delete(s.list, 0, 1)
		}
		s.list = append(s.list, sec)
	}
}

// Values returns the secrets remembered so far.
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

type setKey struct{}

// WithSet returns ctx carrying s: the tokens remembered under it, and the requests made with
// it, are s's.
func WithSet(ctx context.Context, s *Set) context.Context {
	return context.WithValue(ctx, setKey{}, s)
}

// SetOf returns the set ctx carries, or nil.
func SetOf(ctx context.Context) *Set {
	s, _ := ctx.Value(setKey{}).(*Set)
	return s
}

// Remember adds secrets to the set ctx carries, if any: a token source calls it with the
// tokens it received, an authorised transport with the token it sends.
func Remember(ctx context.Context, secrets ...string) { SetOf(ctx).Add(secrets...) }

// Secrets returns the secrets of the set ctx carries, followed by more: the secrets to redact
// from a server's answer quoted in an error.
func Secrets(ctx context.Context, more ...string) []string {
	return append(SetOf(ctx).Values(), more...)
}

// Ensure returns ctx carrying a set, adding an empty one when it carries none, and that set:
// a driver called without a guard (see engine.Guard) still keeps its tokens out of its own
// errors.
func Ensure(ctx context.Context) (context.Context, *Set) {
	if s := SetOf(ctx); s != nil {
		return ctx, s
	}
	s := &Set{}
	return WithSet(ctx, s), s
}
