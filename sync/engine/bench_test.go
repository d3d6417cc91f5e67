package engine

import (
	"testing"
)

// BenchmarkPublishWithAStuckSubscriber measures one status change (such as a progress report)
// reaching three subscribers, one of which never reads: the cost a driver pays per Progress.
func BenchmarkPublishWithAStuckSubscriber(b *testing.B) {
	e := New(Config{})
	_, stop1 := e.Subscribe() // never read
	defer stop1()
	for range 2 {
		ch, stop := e.Subscribe()
		defer stop()
		go func() {
			for range ch {
			}
		}()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.update("source", func(s *Status) { s.Progress = Progress{Done: int64(i), Message: "GET Batch/Bulk/1"} })
	}
}
