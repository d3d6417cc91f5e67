package secevent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"custody/sync/auth"
	"custody/sync/syncerr"
)

// jwkJSON is the public JWK of key with the given kid and alg.
func jwkJSON(t *testing.T, key any, kid, alg string) json.RawMessage {
	t.Helper()
	k, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	if alg != "" {
		_ = k.Set(jwk.AlgorithmKey, alg)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rsaJWK is the JWK of an RSA public key, written by hand (jwk.Import refuses small keys).
func rsaJWK(k *rsa.PublicKey, kid string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"kty": "RSA", "kid": kid, "e": "AQAB",
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes())})
	return b
}

// hugeRSA is an RSA public key of the given size: any odd modulus will do for a public key
// nobody verifies with.
func hugeRSA(t *testing.T, bits int) *rsa.PublicKey {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	return &rsa.PublicKey{N: n, E: 65537}
}

// Issue 16 item 7: RSA keys of 2048–4096 bits and EC P-256 keys only. A refused key is named
// with its reason, and a token naming it is rejected without a signature check (a 64-Kbit key
// cost 22 s of CPU per verification).
func TestJWKSRefusesKeySizes(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	set := map[string][]json.RawMessage{"keys": {
		jwkJSON(t, &testRSA.PublicKey, "good", "PS256"),
		rsaJWK(hugeRSA(t, 65536), "huge"),
		rsaJWK(hugeRSA(t, 4097), "just-over"),
		rsaJWK(hugeRSA(t, 1024), "small"),
		jwkJSON(t, &p384.PublicKey, "p384", ""),
	}}
	body, _ := json.Marshal(set)
	keys, err := ParseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"good":      "",
		"huge":      "an RSA key of 65536 bits (accepted: 2048 to 4096)",
		"just-over": "an RSA key of 4097 bits (accepted: 2048 to 4096)",
		"small":     "an RSA key of 1024 bits (accepted: 2048 to 4096)",
		"p384":      "an EC key on P-384 (accepted: P-256)",
	}
	for kid, why := range want {
		k, ok := keys[kid]
		if !ok || k.Refused != why || (why != "") != (k.Key == nil) {
			t.Errorf("key %s: refused %q (key %T), want %q", kid, k.Refused, k.Key, why)
		}
	}
	v, _ := vectorVerifier(t)
	v.Keys = StaticKeys(keys)
	v.Algs = []string{"PS256"}
	tok := signTest(t, map[string]any{"kid": "huge"})
	_, err = v.Verify(context.Background(), tok)
	rej, ok := IsRejection(err)
	if !ok || rej.Code != ErrInvalidKey || !strings.Contains(rej.Description, `key "huge" was refused: it is an RSA key of 65536 bits`) {
		t.Fatalf("token signed with the huge key's kid: %v", err)
	}

	// A set of refused keys only is no set: the error names each and why.
	only, _ := json.Marshal(map[string][]json.RawMessage{"keys": {set["keys"][1], set["keys"][4]}})
	_, err = ParseJWKS(only)
	if err == nil || !strings.Contains(err.Error(), `"huge" is an RSA key of 65536 bits`) || !strings.Contains(err.Error(), `"p384" is an EC key on P-384`) {
		t.Fatalf("set of refused keys: %v", err)
	}
}

// Issue 16 items 1 and 12: the key set is fetched without following a redirect (even with a
// client that would), and one larger than the limit is the bank's problem, said as such, not
// a network error.
func TestJWKSFetchRedirectAndOversize(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write(jwkSetOf(t, "good"))
	}))
	defer target.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, target.URL+"/jwks", http.StatusFound)
		case "/big":
			w.Write([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSSize) + `]}`))
		}
	}))
	defer srv.Close()
	target.TLS = srv.TLS
	lax := srv.Client() // follows redirects and trusts both test servers
	lax.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(target.Certificate())

	_, err := FetchJWKS(context.Background(), lax, srv.URL+"/moved")
	var re *auth.RedirectError
	if !errors.As(err, &re) || re.Status != http.StatusFound || elsewhere.Load() != 0 {
		t.Fatalf("redirect: %v (target asked %d times)", err, elsewhere.Load())
	}

	_, err = FetchJWKS(context.Background(), lax, srv.URL+"/big")
	if err == nil || !strings.Contains(err.Error(), "the bank's key set is larger than 1 MiB") || syncerr.KindOf(err) != syncerr.Server {
		t.Fatalf("oversize set: %v (kind %q)", err, syncerr.KindOf(err))
	}
}

func jwkSetOf(t *testing.T, kid string) []byte {
	b, _ := json.Marshal(map[string][]json.RawMessage{"keys": {jwkJSON(t, &testRSA.PublicKey, kid, "PS256")}})
	return b
}
