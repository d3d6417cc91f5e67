package secevent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeKeyStore serves a JWKS from memory and records what it was asked.
type fakeKeyStore struct {
	mu      sync.Mutex
	body    string
	status  int
	cc      string // Cache-Control of the answers
	fetches int
	authz   []string
}

func (f *fakeKeyStore) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	f.authz = append(f.authz, r.Header.Get("Authorization"))
	st := f.status
	if st == 0 {
		st = 200
	}
	h := http.Header{}
	if f.cc != "" {
		h.Set("Cache-Control", f.cc)
	}
	return &http.Response{StatusCode: st, Status: http.StatusText(st), Header: h,
		Body: io.NopCloser(strings.NewReader(f.body)), Request: r}, nil
}

func (f *fakeKeyStore) set(body string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.status = body, status
}

func (f *fakeKeyStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

const (
	rsaKID = "ACRXA5G3e_JbXO0VF-ar0qIo8WMANs8m-u6cFIhXoIk"
	ecKID  = "x_dCra_8r1dJRPyfKjcJ5FfBlvYAMpJYrvI559kQBzE"
)

// TestJWKSCacheRefreshAndRateLimit: cached for the TTL, refreshed on an unknown kid at most
// every MinRefresh, the previous set kept when a refresh fails, never fetched with a token.
func TestJWKSCacheRefreshAndRateLimit(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "aspsp-jwks.public.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The RSA key only: the EC key "appears" later, as in a rotation.
	rsaOnly := strings.Replace(string(full), `"kty": "EC"`, `"kty": "EC", "kid-was": "x"`, 1)
	rsaOnly = strings.Replace(rsaOnly, `"kid": "`+ecKID+`"`, `"kid": "old-ec"`, 1)

	synctest.Test(t, func(t *testing.T) {
		ks := &fakeKeyStore{body: rsaOnly}
		j := &JWKS{URL: "https://keystore.example/org.jwks", Client: &http.Client{Transport: ks},
			TTL: time.Hour, MinRefresh: 5 * time.Minute}
		ctx := context.Background()
		if _, err := j.Key(ctx, rsaKID); err != nil {
			t.Fatal(err)
		}
		if _, err := j.Key(ctx, rsaKID); err != nil || ks.count() != 1 {
			t.Fatalf("cached lookup fetched again: %d %v", ks.count(), err)
		}
		// Unknown kid right after a fetch: rate-limited, no fetch, rejected.
		if _, err := j.Key(ctx, ecKID); !errors.Is(err, ErrUnknownKey) || ks.count() != 1 {
			t.Fatalf("rate limit: %d %v", ks.count(), err)
		}
		// The bank publishes the key; after MinRefresh the unknown kid causes one fetch.
		ks.set(string(full), 200)
		time.Sleep(5 * time.Minute)
		if _, err := j.Key(ctx, ecKID); err != nil || ks.count() != 2 {
			t.Fatalf("refresh on unknown kid: %d %v", ks.count(), err)
		}
		// A forged kid: one fetch, then rejected; a burst of them causes no more fetches.
		time.Sleep(5 * time.Minute)
		for range 10 {
			if _, err := j.Key(ctx, "forged"); !errors.Is(err, ErrUnknownKey) {
				t.Fatal(err)
			}
		}
		if ks.count() != 3 {
			t.Fatalf("forged kids caused %d fetches, want 1", ks.count()-2)
		}
		// After the TTL the set is fetched again; when that fails the old set is kept.
		ks.set("", 503)
		time.Sleep(time.Hour)
		if _, err := j.Key(ctx, rsaKID); err != nil {
			t.Fatalf("a failed refresh lost the old set: %v", err)
		}
		// An unknown kid while the key store is down is a temporary failure, not a rejection.
		time.Sleep(5 * time.Minute)
		if _, err := j.Key(ctx, "new-kid"); err == nil || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("want a temporary failure, got %v", err)
		}
		for _, a := range ks.authz {
			if a != "" {
				t.Fatal("the key set was fetched with an Authorization header")
			}
		}
	})
}

// TestParseJWKSRefusesBadSets: empty, garbage, duplicate kids.
func TestParseJWKSRefusesBadSets(t *testing.T) {
	for _, body := range []string{``, `{}`, `{"keys":[]}`, `not json`,
		`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`,
	} {
		if _, err := ParseJWKS([]byte(body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
	full, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "aspsp-jwks.public.json"))
	dup := strings.Replace(string(full), ecKID, rsaKID, 1)
	if _, err := ParseJWKS([]byte(dup)); err == nil {
		t.Error("duplicate kid accepted")
	}
	keys, err := ParseJWKS(full)
	if err != nil || len(keys) != 2 || keys[rsaKID].Alg != "PS256" || keys[ecKID].Use != "sig" {
		t.Fatalf("%v %v", keys, err)
	}
}

// TestJWKSHonoursMaxAge: a key store's Cache-Control max-age shortens (or lengthens) the TTL,
// within bounds.
func TestJWKSHonoursMaxAge(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "aspsp-jwks.public.json"))
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		ks := &fakeKeyStore{body: string(full), cc: "public, max-age=600"}
		j := &JWKS{URL: "https://keystore.example/org.jwks", Client: &http.Client{Transport: ks}, TTL: 6 * time.Hour}
		ctx := context.Background()
		if _, err := j.Key(ctx, rsaKID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Minute)
		j.Key(ctx, rsaKID)
		if ks.count() != 1 {
			t.Fatalf("fetched %d times within max-age", ks.count())
		}
		time.Sleep(2 * time.Minute)
		j.Key(ctx, rsaKID)
		if ks.count() != 2 {
			t.Fatalf("fetched %d times after max-age, want 2", ks.count())
		}
		// max-age=1 is raised to the refresh limit (5 minutes), never a fetch per token.
		ks.mu.Lock()
		ks.cc = "max-age=1"
		ks.mu.Unlock()
		time.Sleep(11 * time.Minute)
		j.Key(ctx, rsaKID) // fetch 3, max-age 1 s from now on
		time.Sleep(time.Minute)
		j.Key(ctx, rsaKID)
		if ks.count() != 3 {
			t.Fatalf("fetched %d times, want 3", ks.count())
		}
	})
	for cc, want := range map[string]time.Duration{"max-age=60": time.Minute, "no-store": 0, "": 0, "public,MAX-AGE=\"30\"": 30 * time.Second, "max-age=x": 0} {
		if got := maxAge(cc); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", cc, got, want)
		}
	}
}
