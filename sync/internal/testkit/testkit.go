// Package testkit holds the small hand-written fakes the sync packages' tests share: a keyring
// in a map (read-only, or writable and locked) and a clock the test moves by hand.
package testkit

import (
	"errors"
	"maps"
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

// Keyring is a writable in-memory keyring of one database keyed by "source/field", as the
// app's is: an engine.Secrets that also stores the secrets a driver renews (SetSecret, such as
// a rotated refresh token or a kept data token). It is safe for concurrent use, by a driver's
// listener goroutines or several drivers at once.
type Keyring struct {
	mu sync.Mutex
	m  map[string]string
}

// NewKeyring returns a keyring holding a copy of secrets, keyed by "source/field".
func NewKeyring(secrets map[string]string) *Keyring {
	k := &Keyring{m: make(map[string]string, len(secrets))}
	maps.Copy(k.m, secrets)
	return k
}

// Secret returns the value stored for the source's field.
func (k *Keyring) Secret(source, field string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[source+"/"+field]
	if !ok {
		return "", errors.New("no such secret")
	}
	return v, nil
}

// SetSecret stores value as the source's field, replacing what was there.
func (k *Keyring) SetSecret(source, field, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[source+"/"+field] = value
	return nil
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
