// Package testkit holds the small hand-written fakes the sync packages' tests share: a keyring
// in a map and a clock the test moves by hand.
package testkit

import (
	"errors"
	"sync"
	"time"
)

// Secrets is an in-memory engine.Secrets keyed by "source/field".
type Secrets map[string]string

// Secret returns the value stored for the source's field.
func (s Secrets) Secret(source, field string) (string, error) {
	v, ok := s[source+"/"+field]
	if !ok {
		return "", errors.New("no such secret")
	}
	return v, nil
}

// Clock is a clock that moves only when the test moves it; a simulator and a driver can share
// it. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
