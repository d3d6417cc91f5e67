package secevent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"custody/sync/auth"
	"custody/sync/syncerr"
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
// The request carries no token, yet it follows no redirect either (auth.Harden: the set
// decides which signatures are trusted, so it comes from the configured URL or not at all),
// and it has the shared timeouts. An oversize or unreadable set is the bank's (server) problem,
// said as such; not reaching it (an error status included) is a network one.
func fetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]PublicKey, time.Duration, error) {
	const op = "fetch JWKS"
	req, err := http.NewRequestWithContext(auth.WithBodyLimit(ctx, maxJWKSSize), http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, syncerr.E(syncerr.Config, op, err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := auth.Harden(client).Do(req)
	if err != nil {
		return nil, 0, auth.Classify(op, err)
	}
	defer resp.Body.Close()
	body, err := auth.ReadBody(resp.Body, maxJWKSSize, "the bank's key set")
	var tl *auth.TooLargeError
	switch {
	case errors.As(err, &tl):
		return nil, 0, syncerr.E(syncerr.Server, op, err)
	case err != nil:
		return nil, 0, auth.Classify(op, fmt.Errorf("read: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		// Unclassified, as before: the key store being down reads as the set unreachable.
		return nil, 0, fmt.Errorf("%s: %s answered %s", op, url, resp.Status)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, 0, syncerr.E(syncerr.Server, op, err)
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
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

// Sizes of RSA keys accepted: smaller ones are weak, larger ones cost seconds of CPU per
// verification (a 64-Kbit key: 22 s), which a forged token could make Custody spend.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

// keyRefusal says why a key is not accepted for verification, or "" when it is: RSA keys of
// MinRSABits to MaxRSABits bits and EC keys on P-256 only.
func keyRefusal(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return fmt.Sprintf("an RSA key of %d bits (accepted: %d to %d)", n, MinRSABits, MaxRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Sprintf("an EC key on %s (accepted: P-256)", k.Curve.Params().Name)
		}
	default:
		return fmt.Sprintf("a key of type %T", key)
	}
	return ""
}

// maxJWKSKeys is the most keys a set may hold.
const maxJWKSKeys = 200

// jwkRefusal judges an RSA or EC JWK by its members before it is parsed: the modulus length
// of an RSA key (base64url of the big-endian bytes) and the curve of an EC key.
func jwkRefusal(kty, crv, n string) string {
	switch kty {
	case "RSA":
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
		if err != nil {
			return ""
		}
		bits := new(big.Int).SetBytes(b).BitLen()
		if bits < MinRSABits || bits > MaxRSABits {
			return fmt.Sprintf("an RSA key of %d bits (accepted: %d to %d)", bits, MinRSABits, MaxRSABits)
		}
	case "EC":
		if crv != "P-256" {
			return fmt.Sprintf("an EC key on %s (accepted: P-256)", crv)
		}
	}
	return ""
}

// ParseJWKS parses a JWK set into verification keys by kid. Entries without a kid, private
// entries and keys of other types are left out. A key of a refused size or curve (see
// keyRefusal) is kept with its reason in Refused, so that a token naming it is rejected with
// that reason and never verified with it. The set must hold at least one usable key.
func ParseJWKS(body []byte) (map[string]PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("parse JWKS: %d keys, more than the %d accepted", len(set.Keys), maxJWKSKeys)
	}
	out := map[string]PublicKey{}
	for i, rk := range set.Keys {
		// The size or curve is judged from the JWK's own members first, so that a refused
		// key is named with its reason (the library refuses small keys with the whole set)
		// and a huge one is never even parsed.
		var m struct {
			KID string `json:"kid"`
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			N   string `json:"n"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		if err := json.Unmarshal(rk, &m); err != nil {
			return nil, fmt.Errorf("parse JWKS: key #%d: %w", i, err)
		}
		if m.KID == "" {
			continue
		}
		if _, dup := out[m.KID]; dup {
			return nil, fmt.Errorf("parse JWKS: kid %q appears twice", m.KID)
		}
		pk := PublicKey{KID: m.KID, Alg: m.Alg, Use: m.Use}
		if why := jwkRefusal(m.Kty, m.Crv, m.N); why != "" {
			pk.Refused = why
			out[m.KID] = pk
			continue
		}
		k, err := jwk.ParseKey(rk)
		if err != nil {
			if m.Kty == "RSA" || m.Kty == "EC" {
				return nil, fmt.Errorf("parse JWKS: key %q: %w", m.KID, err)
			}
			continue // a type Custody does not verify with (oct, OKP, …)
		}
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
		if why := keyRefusal(pk.Key); why != "" {
			pk.Key, pk.Refused = nil, why
		}
		out[m.KID] = pk
	}
	var refused []string
	usable := 0
	for kid, pk := range out {
		if pk.Refused != "" {
			refused = append(refused, fmt.Sprintf("%q is %s", kid, pk.Refused))
		} else {
			usable++
		}
	}
	if usable == 0 {
		if len(refused) > 0 {
			slices.Sort(refused)
			return nil, fmt.Errorf("parse JWKS: no usable signing key; refused: %s", strings.Join(refused, "; "))
		}
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
		if n := k.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return fmt.Errorf("RSA key of %d bits refused (accepted: %d to %d)", n, MinRSABits, MaxRSABits)
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
