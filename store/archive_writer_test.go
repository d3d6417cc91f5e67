package store

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestArchiveWriterBesideBatchedWrites archives a body from one goroutine while another
// stores readings in the same transaction and commits a batch every millisecond, as
// `custody import` does (run it with -race): every chunk and every reading lands, the
// archive counts as whole only after Close, and it reads back byte for byte.
func TestArchiveWriterBesideBatchedWrites(t *testing.T) {
	old := chunkSize
	chunkSize = 4 << 10 // many chunks, written while batches commit
	t.Cleanup(func() { chunkSize = old })
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	body := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte('a' + rng.IntN(20)) // compresses, but not to nothing
	}
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tx.Batched(time.Millisecond)
	m := Meter{Key: "m"}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	sr := Series{MeterID: m.ID, Key: "s"}
	if err := tx.UpsertSeries(&sr); err != nil {
		t.Fatal(err)
	}
	aw, err := tx.ArchiveWriter(Payload{Format: "test", URL: "file:///x", SHA256: "abc", Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200 && werr == nil; i++ {
			werr = tx.PutReadings(sr.ID, []Reading{{Start: int64(i) * 60, Seconds: 60, Value: float64(i)}})
		}
	}()
	for off := 0; off < len(body); off += 4096 {
		if _, err := aw.Write(body[off:min(off+4096, len(body))]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if p, _ := st.Payload(ctx, aw.Payload().ID); p.SHA256 != "" || p.Error != IncompleteArchive {
		t.Fatalf("before Close the archive is %+v, want it marked incomplete", p)
	}
	p, err := aw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rc, err := st.OpenPayload(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, body) {
		t.Fatalf("archive reads back %d bytes (%v)", len(back), err)
	}
	var n int
	var sha string
	if err := st.db.QueryRowContext(ctx, `SELECT (SELECT SUM(n) FROM reading_days), sha256 FROM payloads WHERE id = ?`, p.ID).Scan(&n, &sha); err != nil || n != 200 || sha != "abc" {
		t.Fatalf("%d readings, sha %q, %v", n, sha, err)
	}
}
