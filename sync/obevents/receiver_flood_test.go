package obevents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"custody/store"
	"custody/sync/simtls"
)

// Issue 16 item 6: 300 forged 60 KB tokens pushed over TLS from one peer do not grow the
// database by their size: each rejected token keeps at most its first 4 KiB (with its length
// and digest), and past the per-peer burst rejections are answered 429 and not stored.
func TestForgedPushFloodIsBounded(t *testing.T) {
	st, _, h := vectorReceiver(t)
	// No refill during the test, however slow the machine: the burst is what is measured.
	h.(*Receiver).RejectRate = rate.Every(time.Hour)
	pki, err := simtls.New("custody-flood-test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if srv.TLS, err = pki.ServerTLS(false); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()

	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"PS256","kid":"ACRXA5G3e_JbXO0VF-ar0qIo8WMANs8m-u6cFIhXoIk","typ":"secevent+jwt"}`))
	codes := map[int]int{}
	for i := range 300 {
		filler := make([]byte, 33<<10)
		rand.Read(filler)
		claims := fmt.Sprintf(`{"iss":"https://aspsp.example.com/","jti":"forged-%d","pad":%q}`, i, enc.EncodeToString(filler))
		sig := make([]byte, 256)
		rand.Read(sig)
		tok := hdr + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString(sig)
		if i == 0 && (len(tok) < 58<<10 || len(tok) > 64<<10) {
			t.Fatalf("forged token of %d bytes, want about 60 KB", len(tok))
		}
		resp, err := client.Post(srv.URL+"/bank/event-notifications", "application/jwt", bytes.NewReader([]byte(tok)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[400] != DefaultRejectBurst || codes[429] != 300-DefaultRejectBurst {
		t.Fatalf("answers %v, want %d × 400 then 429", codes, DefaultRejectBurst)
	}
	evs, err := st.Events(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != DefaultRejectBurst {
		t.Fatalf("%d rejected tokens stored, want %d", len(evs), DefaultRejectBurst)
	}
	for _, e := range evs {
		if e.Verified || len(e.Token) > MaxRejectedKept+120 || !bytes.Contains([]byte(e.Token), []byte("bytes in all, sha256 ")) {
			t.Fatalf("stored rejected token of %d bytes: …%q", len(e.Token), e.Token[max(0, len(e.Token)-100):])
		}
	}
	pls, _ := st.Payloads(context.Background(), store.PayloadFilter{})
	var kept int64
	for _, p := range pls {
		kept += p.Size
	}
	if kept > DefaultRejectBurst*(MaxRejectedKept+120) {
		t.Fatalf("%d bytes archived for %d rejected tokens", kept, len(pls))
	}
}
