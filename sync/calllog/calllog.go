// Package calllog keeps the record of calls to a rate-limited endpoint in one small file that
// every Custody process on the machine shares, whichever database it has open. Eloverblik
// counts its token calls per IP address (2 a minute), so two databases, two sources or
// `custody sync` beside the GUI must take their turns from one record, not one each.
//
// The file holds only keys (an endpoint's host) and the times of the calls, never a token;
// a lock file beside it serialises the read-decide-write of every process. The lock is the
// operating system's (flock, LockFileEx), so a process that dies never leaves it held.
package calllog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Bounds that keep the file small whatever happens.
const (
	// MaxAge is how long a call is remembered under any key.
	MaxAge = 24 * time.Hour
	// MaxKeys and MaxCalls bound the keys and the calls kept under one key.
	MaxKeys  = 64
	MaxCalls = 64
	// maxSize bounds what is read of the file.
	maxSize = 1 << 20
	// lockTries and lockPause bound the wait for another process's lock (it is held for a
	// read and a write of a small file only).
	lockTries = 200
	lockPause = 25 * time.Millisecond
)

// File is a call log kept in one file. It is safe for concurrent use by goroutines and
// processes.
type File struct {
	path string
}

// Open returns the call log kept at path, making its folder when it is missing.
func Open(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("call log %s: %w", path, err)
	}
	return &File{path: path}, nil
}

// record is the file's content: the times (Unix milliseconds) of the calls under each key.
type record struct {
	Calls map[string][]int64 `json:"calls"`
}

// Take records a call under key when fewer than limit calls were recorded under key in the
// period per before now, and returns 0; otherwise it records nothing and returns how long to
// wait until a call is allowed.
func (f *File) Take(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (time.Duration, error) {
	if key == "" || limit < 1 || per <= 0 {
		return 0, fmt.Errorf("call log %s: key %q, limit %d per %v is not a limit", f.path, key, limit, per)
	}
	unlock, err := f.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	rec := f.read()
	prune(rec, now)
	since := now.Add(-per).UnixMilli()
	var recent []int64
	for _, at := range rec.Calls[key] {
		if at > since {
			recent = append(recent, at)
		}
	}
	if len(recent) >= limit {
		// The call waits until the oldest of the last limit calls leaves the period.
		oldest := recent[len(recent)-limit]
		return time.Duration(oldest-since) * time.Millisecond, nil
	}
	rec.Calls[key] = append(recent, now.UnixMilli())
	if len(rec.Calls) > MaxKeys {
		dropOldestKey(rec, key)
	}
	if err := f.write(rec); err != nil {
		return 0, err
	}
	return 0, nil
}

// read reads the record; a missing, unreadable or damaged file is an empty record (the log
// only paces calls: refusing every call over a damaged file would stop every sync for good).
func (f *File) read() *record {
	rec := &record{}
	b, err := os.ReadFile(f.path)
	if err == nil && len(b) <= maxSize {
		_ = json.Unmarshal(b, rec)
	}
	if rec.Calls == nil {
		rec.Calls = map[string][]int64{}
	}
	return rec
}

// prune forgets calls older than MaxAge or later than now plus MaxAge (a clock that was
// wrong), keeps the last MaxCalls of each key, and sorts them.
func prune(rec *record, now time.Time) {
	lo, hi := now.Add(-MaxAge).UnixMilli(), now.Add(MaxAge).UnixMilli()
	for k, ats := range rec.Calls {
		ats = slices.DeleteFunc(ats, func(at int64) bool { return at <= lo || at > hi })
		slices.Sort(ats)
		if len(ats) > MaxCalls {
			ats = ats[len(ats)-MaxCalls:]
		}
		if len(ats) == 0 || k == "" {
			delete(rec.Calls, k)
			continue
		}
		rec.Calls[k] = ats
	}
}

// dropOldestKey forgets the keys whose last call is the oldest, but never keep, until
// MaxKeys remain.
func dropOldestKey(rec *record, keep string) {
	for len(rec.Calls) > MaxKeys {
		oldest, at := "", int64(0)
		for k, ats := range rec.Calls {
			if k != keep && (oldest == "" || ats[len(ats)-1] < at) {
				oldest, at = k, ats[len(ats)-1]
			}
		}
		delete(rec.Calls, oldest)
	}
}

// write replaces the file by a new one, so that a crash leaves the old or the new record,
// never half of one.
func (f *File) write(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("call log %s: %w", f.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("call log %s: %w", f.path, err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("call log %s: %w", f.path, err)
	}
	return nil
}

// errLocked is what tryLock returns while another process holds the lock.
var errLocked = errors.New("locked")

// lock takes the lock file beside the log, waiting a little while another process holds it.
func (f *File) lock(ctx context.Context) (func(), error) {
	lf, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("call log %s: %w", f.path, err)
	}
	for i := 0; ; i++ {
		err := tryLock(lf)
		if err == nil {
			return func() {
				unlock(lf)
				lf.Close()
			}, nil
		}
		if !errors.Is(err, errLocked) || i >= lockTries {
			lf.Close()
			if errors.Is(err, errLocked) {
				err = errors.New("another process holds its lock")
			}
			return nil, fmt.Errorf("call log %s: %w", f.path, err)
		}
		t := time.NewTimer(lockPause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			lf.Close()
			return nil, ctx.Err()
		}
	}
}
