//go:build unix

package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchPollTokens makes n event tokens shaped like the Open Banking simulator's: the same
// header, claims that differ in their jti and resource id, and a random 256-byte signature.
func benchPollTokens(n int) (jtis, tokens []string) {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"PS256","kid":"k1","typ":"secevent+jwt","http://openbanking.org.uk/iat":1767225600,"http://openbanking.org.uk/iss":"0015800001ZEZ1AAN","http://openbanking.org.uk/tan":"openbanking.org.uk","crit":["http://openbanking.org.uk/iat","http://openbanking.org.uk/iss","http://openbanking.org.uk/tan"]}`))
	for range n {
		r := make([]byte, 12+256)
		rand.Read(r)
		jti := fmt.Sprintf("%s-%s-4%s", hex.EncodeToString(r[:4]), hex.EncodeToString(r[4:6]), hex.EncodeToString(r[6:12]))
		claims := fmt.Sprintf(`{"iss":"https://aspsp.example.com/","iat":1767225600,"jti":%q,"aud":"tpp","sub":"https://aspsp.example.com/open-banking/v3.1/pisp/domestic-payments/pmt-%s","txn":"txn-%s","toe":1767225595,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"subject_type":"http://openbanking.org.uk/rid_http://openbanking.org.uk/rty","http://openbanking.org.uk/rid":"pmt-%s","http://openbanking.org.uk/rty":"domestic-payment","http://openbanking.org.uk/rlk":[{"version":"v3.1","link":"https://aspsp.example.com/open-banking/v3.1/pisp/domestic-payments/pmt-%s"}]}}}}`, jti, jti, jti, jti, jti)
		jtis = append(jtis, jti)
		tokens = append(tokens, hdr+"."+base64.RawURLEncoding.EncodeToString([]byte(claims))+"."+base64.RawURLEncoding.EncodeToString(r[12:]))
	}
	return jtis, tokens
}

// BenchmarkEventPolls stores what one Open Banking poll of ten events stores, as the poller
// does (sync/obevents storeVerdicts): the answer archived, the acks the poll carried
// forgotten, ten events (their tokens kept only in the archived answer), their acks, one
// commit; per event. Besides the CPU it reports the pages written to the WAL per commit
// (frames/commit, autocheckpoint off so that the WAL holds them all), which is what a commit and the checkpoints after it cost. The store's own
// checkpoint interval is what the whole-path benchmark (app: BenchmarkSyncOnceObevents) and
// OBEVENTS_CKPT here compare: "OBEVENTS_CKPT=1000 go test -tags ci ./store/ -run '^$' -bench
// EventPolls -benchtime 20000x".
func BenchmarkEventPolls(b *testing.B) {
	q := url.Values{}
	ckpt := "0"
	if v := os.Getenv("OBEVENTS_CKPT"); v != "" {
		ckpt = v
	}
	for _, p := range []string{"journal_mode(wal)", "foreign_keys(1)", "synchronous(1)", "wal_autocheckpoint(" + ckpt + ")"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	ctx := context.Background()
	s, err := openDSN(ctx, filepath.Join(b.TempDir(), "bench.db"), q)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.migrate(ctx, nil); err != nil {
		b.Fatal(err)
	}
	src := Source{Name: "bank", Kind: "obevents", Enabled: true}
	if err := s.AddSource(ctx, &src); err != nil {
		b.Fatal(err)
	}
	const per = 10
	polls := (b.N + per - 1) / per
	answers := make([][]byte, polls)
	events := make([][]Event, polls)
	for i := range answers {
		jtis, tokens := benchPollTokens(per)
		sets := map[string]string{}
		for j, jti := range jtis {
			sets[jti] = tokens[j]
			events[i] = append(events[i], Event{SourceID: src.ID, ISS: "https://aspsp.example.com/", JTI: jti, AUD: "tpp",
				Types: []string{"urn:uk:org:openbanking:events:resource-update"}, Subject: `{"http://openbanking.org.uk/rid":"pmt"}`,
				RID: "pmt-" + jti, RTY: "domestic-payment", TXN: "txn", TOE: time.Unix(1767225595, 0), IAT: time.Unix(1767225600, 0),
				Verified: true, Token: tokens[j], TokenArchived: true})
		}
		answers[i], _ = json.Marshal(map[string]any{"sets": sets, "moreAvailable": true})
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	var sent []int64
	for i := range polls {
		tx, err := s.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		pl, _, err := tx.ArchiveBytes(Payload{SourceID: src.ID, Format: "set", URL: "https://bank/events", Status: PayloadParsed}, answers[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.DeletePendingAcks(sent); err != nil {
			b.Fatal(err)
		}
		var acks []PendingAck
		for j := range events[i] {
			events[i][j].PayloadID = pl.ID
			acks = append(acks, PendingAck{SourceID: src.ID, Kind: "ack", Item: events[i][j].JTI})
		}
		if _, err := tx.PutEvents(events[i], 30*24*time.Hour); err != nil {
			b.Fatal(err)
		}
		owed, err := tx.AddPendingAcks(acks)
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		sent = sent[:0]
		for _, a := range owed {
			sent = append(sent, a.ID)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(syscall.TimevalToNsec(after.Utime)-syscall.TimevalToNsec(before.Utime)) +
		time.Duration(syscall.TimevalToNsec(after.Stime)-syscall.TimevalToNsec(before.Stime))
	var busy, frames, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(polls*per)/cpu.Seconds(), "events/cpu-s")
	if ckpt == "0" {
		b.ReportMetric(float64(frames)/float64(polls), "frames/commit")
	}
}
