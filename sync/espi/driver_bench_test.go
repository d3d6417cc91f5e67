package espi_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"custody/store"
	"custody/sync/espi/espitest"
)

// BenchmarkSyncBulkYear measures one first sync of a year of simulated bulk data (3 meters,
// hourly import and export, 15-minute sub-meter, daily gas: about 52,000 readings, several MB of
// XML) over mutual TLS from the simulator into a new store: download, archive, parse, upsert.
func BenchmarkSyncBulkYear(b *testing.B) {
	r := newRigB(b, espitest.Options{Days: 365})
	var readings int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		src := r.src
		if err := st.AddSource(context.Background(), &src); err != nil {
			b.Fatal(err)
		}
		job := r.job()
		job.Store, job.Source = st, src
		b.StartTimer()
		res, err := r.drv.Sync(context.Background(), job)
		if err != nil {
			b.Fatal(err)
		}
		readings = res.Readings
		b.StopTimer()
		if i == 0 {
			ps, _ := st.Payloads(context.Background(), store.PayloadFilter{})
			var size int64
			for _, p := range ps {
				size += p.Size
			}
			b.SetBytes(size)
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(readings), "readings/op")
	b.ReportMetric(float64(readings)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

func newRigB(b *testing.B, opts espitest.Options) *rig {
	b.Helper()
	now := time.Date(2026, 6, 10, 18, 30, 0, 0, time.UTC)
	opts.Now = func() time.Time { return now }
	return newRigTB(b, opts)
}
