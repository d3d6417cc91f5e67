package secevent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// maxJWKSSize bounds a key set answer.
const maxJWKSSize = 1 << 20

// JWKS is the bank's key set, fetched from its configured URL and cached. It is fetched with
// the source's TLS trust and never with a bearer token. An unknown kid triggers one refresh,
// at most every MinRefresh, so a stream of forged kids cannot turn Custody into a fetch
// amplifier; a failed refresh keeps the previous set.
type JWKS struct {
	URL    string
	Client *http.Client // plain TLS client: no token, no authorising transport
	// TTL is how long a fetched set is used before it is fetched again; default 6 hours.
	TTL time.Duration
	// MinRefresh is the least time between two fetches caused by unknown kids; default 5 minutes.
	MinRefresh time.Duration
	Now        func() time.Time

	mu          sync.Mutex
	keys        map[string]PublicKey
	fetched     time.Time // when keys were last fetched successfully
	lastAttempt time.Time // when a fetch was last tried
	maxAge      time.Duration
	fetches     int
}

// SetClient replaces the HTTP client the set is fetched with (a source's TLS settings may
// change between syncs while the cache and its refresh limit stay).
func (j *JWKS) SetClient(c *http.Client) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.Client = c
}

// Fetches is how many times the set has been fetched (successfully or not).
func (j *JWKS) Fetches() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

func (j *JWKS) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// Key returns the key with the given kid.
func (j *JWKS) Key(ctx context.Context, kid string) (PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ttl := j.TTL
	if ttl <= 0 {
		ttl = 6 * time.Hour
	}
	minRefresh := j.MinRefresh
	if minRefresh <= 0 {
		minRefresh = 5 * time.Minute
	}
	now := j.now()
	if j.maxAge > 0 {
		// The key store said how long its answer stays fresh (Cache-Control max-age);
		// within sane bounds that wins over the configured TTL.
		ttl = min(max(j.maxAge, minRefresh), 24*time.Hour)
	}
	var staleErr error
	if j.keys == nil || now.Sub(j.fetched) >= ttl {
		if staleErr = j.fetchLocked(ctx); staleErr != nil && j.keys == nil {
			return PublicKey{}, staleErr
		}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if staleErr != nil {
		// The set in hand is old and could not be renewed: the kid may be new.
		return PublicKey{}, staleErr
	}
	if now.Sub(j.lastAttempt) >= minRefresh {
		if err := j.fetchLocked(ctx); err != nil {
			// The key may well be new and the set unreachable: a temporary failure, so the
			// token is neither acknowledged nor reported as bad.
			return PublicKey{}, err
		}
		if k, ok := j.keys[kid]; ok {
			return k, nil
		}
	}
	return PublicKey{}, fmt.Errorf("%w %q", ErrUnknownKey, kid)
}

func (j *JWKS) fetchLocked(ctx context.Context) error {
	j.lastAttempt = j.now()
	j.fetches++
	keys, maxAge, err := fetchJWKS(ctx, j.Client, j.URL)
	if err != nil {
		return err
	}
	j.keys, j.fetched, j.maxAge = keys, j.now(), maxAge
	return nil
}

// FetchJWKS GETs a key set (without any token) and parses it; see ParseJWKS.
func FetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]PublicKey, error) {
	keys, _, err := fetchJWKS(ctx, client, url)
	return keys, err
}

// fetchJWKS is FetchJWKS that also returns the answer's Cache-Control max-age (0 when none).
func fetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]PublicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch JWKS: %s answered %s", url, resp.Status)
	}
	if len(body) > maxJWKSSize {
		return nil, 0, fmt.Errorf("fetch JWKS: answer is larger than %d bytes", maxJWKSSize)
	}
	keys, err := ParseJWKS(body)
	return keys, maxAge(resp.Header.Get("Cache-Control")), err
}

// maxAge reads max-age from a Cache-Control header; no-store and no-cache count as none.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(strings.ToLower(d)), "=")
		if name == "max-age" {
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

// ParseJWKS parses a JWK set into verification keys by kid. Entries without a kid, private
// entries and keys of other types are left out; the set must hold at least one usable key.
func ParseJWKS(body []byte) (map[string]PublicKey, error) {
	set, err := jwk.Parse(body, jwk.WithMaxKeys(200))
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	out := map[string]PublicKey{}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok || kid == "" {
			continue
		}
		pk := PublicKey{KID: kid}
		if a, ok := k.Algorithm(); ok {
			pk.Alg = a.String()
		}
		pk.Use, _ = k.KeyUsage()
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			continue
		}
		switch r := raw.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			pk.Key = r
		case rsa.PublicKey:
			pk.Key = &r
		case ecdsa.PublicKey:
			pk.Key = &r
		default:
			continue
		}
		if _, dup := out[kid]; dup {
			return nil, fmt.Errorf("parse JWKS: kid %q appears twice", kid)
		}
		out[kid] = pk
	}
	if len(out) == 0 {
		return nil, errors.New("parse JWKS: no usable signing key")
	}
	return out, nil
}

// keyFitsAlg checks the key type and size against the algorithm.
func keyFitsAlg(key any, alg string) error {
	switch alg {
	case "PS256", "RS256":
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an RSA key", alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
	case "ES256":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return errors.New("ES256 needs a P-256 key")
		}
	default:
		return fmt.Errorf("algorithm %s is not supported", alg)
	}
	return nil
}

// StaticKeys is a fixed key set, for tests and for banks whose keys are configured by hand.
type StaticKeys map[string]PublicKey

// Key returns the key with the given kid.
func (s StaticKeys) Key(_ context.Context, kid string) (PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return PublicKey{}, fmt.Errorf("%w %q", ErrUnknownKey, kid)
}
