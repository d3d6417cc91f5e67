package engine

import (
	"maps"
	"slices"
	"sync"
)

// subscriber is one receiver of status snapshots. The engine hands it snapshots without ever
// waiting: they collect in pending, the latest per source, and the subscriber's own goroutine
// moves them to its bounded channel as fast as the receiver takes them. A slow receiver
// therefore skips intermediate snapshots of a source but always gets the latest one.
type subscriber struct {
	out  chan Status
	kick chan struct{} // buffered 1: pending has something
	done chan struct{}

	mu      sync.Mutex
	pending map[string]Status
}

// offer queues a snapshot for the subscriber, replacing an undelivered one of the same source.
// It never blocks.
func (s *subscriber) offer(st Status) {
	s.mu.Lock()
	s.pending[st.Source] = st
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// loop delivers pending snapshots until the subscription ends, then closes the channel.
func (s *subscriber) loop() {
	defer close(s.out)
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		s.mu.Lock()
		batch := make([]Status, 0, len(s.pending))
		for _, name := range slices.Sorted(maps.Keys(s.pending)) {
			batch = append(batch, s.pending[name])
		}
		clear(s.pending)
		s.mu.Unlock()
		for _, st := range batch {
			select {
			case s.out <- st:
			case <-s.done:
				return
			}
		}
	}
}

// Subscribe returns a channel of status snapshots, one on every change of any source, starting
// with the current status of every source, and a function that ends the subscription and
// closes the channel. The engine never waits for a subscriber: one that falls behind receives
// only the latest snapshot of each source it missed.
func (e *Engine) Subscribe() (<-chan Status, func()) {
	s := &subscriber{
		out:     make(chan Status, e.cfg.SubscriberBuffer),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: map[string]Status{},
	}
	e.mu.Lock()
	e.subs[s] = struct{}{}
	for _, st := range e.status {
		s.offer(st)
	}
	e.mu.Unlock()
	go s.loop()
	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, s)
			e.mu.Unlock()
			close(s.done)
		})
	}
}

// publishLocked offers a snapshot to every subscriber; e.mu is held.
func (e *Engine) publishLocked(st Status) {
	for s := range e.subs {
		s.offer(st)
	}
}
