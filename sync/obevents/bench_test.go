//go:build unix

package obevents

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"custody/store"
	"custody/sync/obevents/secevent"
)

// benchTokens signs n distinct, realistic event tokens.
func benchTokens(b *testing.B, n int, alg jwa.SignatureAlgorithm, key crypto.Signer, kid string) []string {
	b.Helper()
	out := make([]string, n)
	now := time.Now()
	for i := range out {
		claims := map[string]any{
			"iss": "https://aspsp.example.com/", "iat": now.Unix(), "jti": fmt.Sprintf("bench-%08d", i),
			"aud": "tpp", "sub": "https://aspsp.example.com/open-banking/v3.1/pisp/domestic-payments/p",
			"txn": "txn", "toe": now.Unix() - 5,
			"events": map[string]any{secevent.TypeResourceUpdate: map[string]any{"subject": map[string]any{
				"subject_type":                  "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
				"http://openbanking.org.uk/rid": fmt.Sprintf("pmt-%d", i),
				"http://openbanking.org.uk/rty": "domestic-payment",
				"http://openbanking.org.uk/rlk": []map[string]string{{"version": "v3.1", "link": "https://aspsp.example.com/open-banking/v3.1/pisp/domestic-payments/p"}},
			}}},
		}
		payload, _ := json.Marshal(claims)
		hdr := jws.NewHeaders()
		_ = hdr.Set("kid", kid)
		_ = hdr.Set(secevent.HeaderOBIat, now.Unix())
		_ = hdr.Set(secevent.HeaderOBIss, "0015800001ZEZ1AAN")
		_ = hdr.Set(secevent.HeaderOBTan, "openbanking.org.uk")
		_ = hdr.Set("crit", []string{secevent.HeaderOBIat, secevent.HeaderOBIss, secevent.HeaderOBTan})
		tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = string(tok)
	}
	return out
}

// BenchmarkVerifyStore measures verify + archive + store + pending ack, in poll-sized
// transactions of 10 tokens, per event (target: at least 2,000 events/s).
func BenchmarkVerifyStore(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := secevent.StaticKeys{
		"rsa": {KID: "rsa", Alg: "PS256", Use: "sig", Key: &rsaKey.PublicKey},
		"ec":  {KID: "ec", Alg: "ES256", Use: "sig", Key: &ecKey.PublicKey},
	}
	for _, c := range []struct {
		name string
		alg  jwa.SignatureAlgorithm
		key  crypto.Signer
		kid  string
	}{{"PS256", jwa.PS256(), rsaKey, "rsa"}, {"ES256", jwa.ES256(), ecKey, "ec"}} {
		b.Run(c.name, func(b *testing.B) {
			tokens := benchTokens(b, b.N, c.alg, c.key, c.kid)
			st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			src := store.Source{Name: "bank", Kind: "obevents", Config: map[string]string{}}
			if err := st.AddSource(context.Background(), &src); err != nil {
				b.Fatal(err)
			}
			v := &secevent.Verifier{Issuer: "https://aspsp.example.com/", Audience: "tpp", Keys: keys}
			ctx := context.Background()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for i := 0; i < len(tokens); i += 10 {
				batch := tokens[i:min(i+10, len(tokens))]
				vs := make([]verdict, 0, len(batch))
				for _, tok := range batch {
					set, err := v.Verify(ctx, tok)
					if err != nil {
						b.Fatal(err)
					}
					vs = append(vs, verdict{key: set.JTI, token: tok, set: set})
				}
				res, err := storeVerdicts(ctx, st, src.ID, "https://aspsp.example.com/open-banking/v3.1/events", pollAnswer(vs), vs, storeOptions{owe: true, window: DefaultJTIWindow})
				if err != nil || res.New != len(batch) {
					b.Fatalf("%v %+v", err, res)
				}
			}
			b.ReportMetric(float64(len(tokens))/time.Since(start).Seconds(), "events/s")
			// The machine is shared: events per second of this process's own CPU time says what
			// one core does, whatever else is running.
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(len(tokens))/cpu.Seconds(), "events/cpu-s")
			}
		})
	}
}

// pollAnswer is the poll answer a batch of tokens came in.
func pollAnswer(vs []verdict) []byte {
	sets := map[string]string{}
	for _, v := range vs {
		sets[v.key] = v.token
	}
	b, _ := json.Marshal(secevent.PollResponse{Sets: sets})
	return b
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
