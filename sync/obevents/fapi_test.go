package obevents

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"custody/sync/obevents/obtest"
	"custody/sync/syncerr"
)

// tppKey is one RSA key for the whole package's tests: generating 2048-bit keys is slow.
var tppKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

const tppKID = "tpp-signing-key-1"

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func pkcs8PEM(t testing.TB, k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// newFAPIRig is a rig whose bank accepts only the given client authentication and requires
// signed subscription requests, and whose source is set up for it with a signing key file.
func newFAPIRig(t *testing.T, opts obtest.Options, tokenAuth string) *rig {
	t.Helper()
	opts.TokenAuth, opts.ClientKey, opts.ClientKID, opts.RequireSignedRequests = tokenAuth, &tppKey.PublicKey, tppKID, true
	r := newRig(t, opts)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, pkcs8PEM(t, tppKey), 0o600); err != nil {
		t.Fatal(err)
	}
	c := r.job.Source.Config
	c[CfgTokenAuth], c[CfgSigningKey], c[CfgSigningKID] = tokenAuth, keyFile, tppKID
	// Neither mode needs the secret: the keyring has none.
	r.job.Secrets = memSecrets{}
	return r
}

func TestParseSigningKey(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the legacy encrypted PEM openssl genrsa -aes256 writes, as users have it
	enc, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(tppKey), []byte("pass phrase"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(enc)
	withCert := append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), pkcs1PEM(tppKey)...)
	for _, tt := range []struct {
		name      string
		pem       []byte
		pass      string
		encrypted bool
		err       string // empty: the key is read
	}{
		{name: "PKCS#1", pem: pkcs1PEM(tppKey)},
		{name: "PKCS#8", pem: pkcs8PEM(t, tppKey)},
		{name: "after a certificate", pem: withCert},
		{name: "encrypted with its passphrase", pem: encPEM, pass: "pass phrase", encrypted: true},
		{name: "encrypted without a passphrase", pem: encPEM, encrypted: true, err: "passphrase is needed"},
		{name: "encrypted with a wrong passphrase", pem: encPEM, pass: "wrong", encrypted: true, err: "passphrase does not open it"},
		{name: "encrypted PKCS#8", pem: []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), encrypted: true, err: "encrypted PKCS#8 key is not supported"},
		{name: "1024 bits", pem: pkcs1PEM(small), err: "RSA 1024 bits; PS256 needs at least 2048"},
		{name: "EC key", pem: pkcs8PEM(t, ec), err: "PS256 needs an RSA key"},
		{name: "EC PRIVATE KEY block", pem: []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), err: "a EC PRIVATE KEY block"},
		{name: "not PEM", pem: []byte("hello"), err: "no PEM private key block"},
		{name: "broken PKCS#8", pem: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), err: "not a readable PKCS#8 key"},
		{name: "huge", pem: bytes.Repeat([]byte("A"), maxSigningKeyPEM+1), err: "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := KeyEncrypted(tt.pem); got != tt.encrypted {
				t.Errorf("KeyEncrypted %v, want %v", got, tt.encrypted)
			}
			k, err := ParseSigningKey(tt.pem, tt.pass)
			if tt.err == "" {
				if err != nil || !k.Equal(tppKey) {
					t.Fatalf("key %v, err %v", k != nil, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("MII")) {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
}

// TestWrongPassphraseAlwaysSaysSo: legacy PEM encryption recognises a wrong passphrase only by
// its padding, which about one wrong passphrase in 256 passes; the key that then comes out is
// garbage, and the user must still hear that the passphrase is wrong, every time.
func TestWrongPassphraseAlwaysSaysSo(t *testing.T) {
	//lint:ignore SA1019 the legacy encrypted PEM openssl genrsa -aes256 writes, as users have it
	enc, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(tppKey), []byte("pass phrase"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(enc)
	// 2,000 wrong passphrases: the padding lets one through with a probability of 99.96 %.
	for i := range 2000 {
		if _, err := ParseSigningKey(encPEM, fmt.Sprintf("wrong %d", i)); err == nil || !strings.Contains(err.Error(), "passphrase does not open it") {
			t.Fatalf("passphrase %q: error %v", fmt.Sprintf("wrong %d", i), err)
		}
	}
}

// TestTokenAuthModes syncs against banks that accept one client authentication each, over
// mutual TLS, with signed subscription requests where a signing key is configured: the
// right one drains the queue and verifies every event; a wrong one is an authorisation
// failure that names the bank's reason, and reaches no API.
func TestTokenAuthModes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		bank      string // obtest TokenAuth
		signed    bool   // the bank requires signed requests (a key is configured)
		tokenAuth string // the source's
		secret    bool   // the keyring holds the client secret
		otherCert bool   // the source presents another certificate of the same CA
		otherKey  bool   // the source signs with another key under the registered kid
		refusal   string // part of the bank's refusal; empty when it syncs
	}{
		{name: "private_key_jwt", bank: obtest.TokenAuthJWT, signed: true, tokenAuth: TokenAuthJWT},
		{name: "tls_client_auth", bank: obtest.TokenAuthTLS, signed: true, tokenAuth: TokenAuthTLS},
		{name: "client_secret_basic", tokenAuth: TokenAuthBasic, secret: true},
		{name: "client_secret_post", tokenAuth: TokenAuthPost, secret: true},
		{name: "default is the secret", secret: true},
		{name: "secret where a key is required", bank: obtest.TokenAuthJWT, tokenAuth: TokenAuthPost, secret: true,
			refusal: "private_key_jwt: a client secret is refused"},
		{name: "basic secret where a key is required", bank: obtest.TokenAuthJWT, tokenAuth: TokenAuthBasic, secret: true,
			refusal: "a client secret is refused"},
		{name: "assertion signed with another key", bank: obtest.TokenAuthJWT, signed: true, tokenAuth: TokenAuthJWT, otherKey: true,
			refusal: "does not verify with the registered key"},
		{name: "tls_client_auth with another certificate", bank: obtest.TokenAuthTLS, tokenAuth: TokenAuthTLS, otherCert: true,
			refusal: "is not the one registered"},
		{name: "secret where the certificate is required", bank: obtest.TokenAuthTLS, tokenAuth: TokenAuthPost, secret: true,
			refusal: "tls_client_auth only"},
		{name: "assertion where the secret is expected", tokenAuth: TokenAuthJWT, signed: true, refusal: "not an assertion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := obtest.Options{Events: 8, InvalidEvery: 4}
			var r *rig
			if tt.signed || tt.bank != "" {
				r = newFAPIRig(t, opts, tt.bank)
				if !tt.signed {
					delete(r.job.Source.Config, CfgSigningKey)
					delete(r.job.Source.Config, CfgSigningKID)
				}
			} else {
				r = newRig(t, opts)
			}
			c := r.job.Source.Config
			c[CfgTokenAuth] = tt.tokenAuth
			if tt.signed && tt.bank == "" { // a signing key at a bank that takes secrets
				keyFile := filepath.Join(t.TempDir(), "k.pem")
				if err := os.WriteFile(keyFile, pkcs1PEM(tppKey), 0o600); err != nil {
					t.Fatal(err)
				}
				c[CfgSigningKey], c[CfgSigningKID] = keyFile, tppKID
			}
			if tt.secret {
				r.job.Secrets = memSecrets{"bank/client_secret": r.sim.Options().ClientSecret}
			} else {
				r.job.Secrets = memSecrets{} // reading a secret would fail
			}
			if tt.otherKey {
				other, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c[CfgSigningKey], pkcs1PEM(other), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.otherCert {
				cert, key, err := r.sim.PKI().Issue("someone-else", x509.ExtKeyUsageClientAuth, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				c["cert"], c["key"] = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
				if os.WriteFile(c["cert"], cert, 0o600) != nil || os.WriteFile(c["key"], key, 0o600) != nil {
					t.Fatal("write certificate")
				}
			}
			_, err := NewDriver().Sync(context.Background(), r.job)
			if tt.refusal != "" {
				if err == nil || syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(err.Error(), tt.refusal) {
					t.Fatalf("error %v (kind %v), want an authorisation failure saying %q", err, syncerr.KindOf(err), tt.refusal)
				}
				if n := r.sim.Requests("/events") + r.sim.Requests("/event-subscriptions"); n != 0 {
					t.Fatalf("%d API requests without a token", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("sync: %v (bank refusals %v)", err, r.sim.Refusals())
			}
			r.checkDrained(t)
			if ref := r.sim.Refusals(); len(ref) != 0 {
				t.Errorf("bank refusals: %v", ref)
			}
			if subs := r.sim.Subscriptions(); len(subs) != 1 {
				t.Fatalf("subscriptions %+v", subs)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.signed]; r.sim.SignedRequests() != want {
				t.Errorf("%d signed requests, want %d", r.sim.SignedRequests(), want)
			}
		})
	}
}

// rawTokenRequest posts a token request over mutual TLS with the rig's client certificate.
func rawTokenRequest(t *testing.T, r *rig, form url.Values) (int, string) {
	t.Helper()
	tc, err := r.sim.PKI().ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := hc.PostForm(r.sim.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signClaims signs arbitrary assertion claims with the TPP key.
func signClaims(t *testing.T, claims map[string]any, kid string) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	hdr := jws.NewHeaders()
	_ = hdr.Set("kid", kid)
	out, err := jws.Sign(payload, jws.WithKey(jwa.PS256(), tppKey, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestClientAssertionRefused: the bank refuses a replayed assertion, an expired one, one for
// another audience, one that lives longer than 5 minutes, one under an unknown kid, and an
// assertion together with a secret; a fresh one made by the Signer is accepted, and its
// claims are those RFC 7523 and FAPI ask for.
func TestClientAssertionRefused(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: -1}, obtest.TokenAuthJWT)
	id, aud := r.sim.Options().ClientID, r.sim.TokenURL()
	form := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
			"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}
	}
	signer := &Signer{Key: tppKey, KID: tppKID}
	fresh, err := signer.ClientAssertion(id, aud)
	if err != nil {
		t.Fatal(err)
	}
	// The claims, as sent.
	parts := strings.Split(fresh, ".")
	hdrJSON, _ := base64.RawURLEncoding.DecodeString(parts[0])
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var hdr, claims map[string]any
	if json.Unmarshal(hdrJSON, &hdr) != nil || json.Unmarshal(claimsJSON, &claims) != nil {
		t.Fatalf("unreadable assertion %s", fresh)
	}
	if hdr["alg"] != "PS256" || hdr["kid"] != tppKID {
		t.Errorf("header %v", hdr)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if claims["iss"] != id || claims["sub"] != id || claims["aud"] != aud || claims["jti"] == "" || exp <= iat || exp-iat > 300 {
		t.Errorf("claims %v", claims)
	}
	if code, body := rawTokenRequest(t, r, form(fresh)); code != 200 {
		t.Fatalf("fresh assertion: %d %s", code, body)
	}
	second, _ := signer.ClientAssertion(id, aud)
	if second == fresh {
		t.Fatal("two assertions are the same: the jti is not fresh")
	}
	now := time.Now()
	for _, tt := range []struct {
		name, assertion, want string
		extra                 url.Values
	}{
		{name: "replayed", assertion: fresh, want: "replay"},
		{name: "expired", assertion: signClaims(t, map[string]any{"iss": id, "sub": id, "aud": aud, "jti": "j-expired",
			"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-9 * time.Minute).Unix()}, tppKID), want: "expired"},
		{name: "wrong audience", assertion: signClaims(t, map[string]any{"iss": id, "sub": id, "aud": r.sim.BaseURL(), "jti": "j-aud",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, tppKID), want: "is not the token endpoint"},
		{name: "lives too long", assertion: signClaims(t, map[string]any{"iss": id, "sub": id, "aud": aud, "jti": "j-long",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}, tppKID), want: "more than 5 minutes"},
		{name: "iss is not the client", assertion: signClaims(t, map[string]any{"iss": "x", "sub": id, "aud": aud, "jti": "j-iss",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, tppKID), want: "iss and sub"},
		{name: "unknown kid", assertion: signClaims(t, map[string]any{"iss": id, "sub": id, "aud": aud, "jti": "j-kid",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, "other-kid"), want: "not the registered key"},
		{name: "with a secret too", assertion: second, extra: url.Values{"client_secret": {"s"}}, want: "a client secret is refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := form(tt.assertion)
			for k, v := range tt.extra {
				f[k] = v
			}
			code, body := rawTokenRequest(t, r, f)
			if code != 401 || !strings.Contains(body, "invalid_client") || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s, want 401 invalid_client saying %q", code, body, tt.want)
			}
		})
	}
}

// TestSignedSubscriptionRequests: with a signing key, the subscription POST and the PUT that
// changes it carry an x-jws-signature over the exact body, which the bank verifies; an
// unsigned request and one whose body was altered after signing are refused; event types
// the bank only reordered cause no PUT.
func TestSignedSubscriptionRequests(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: -1}, obtest.TokenAuthJWT)
	s, err := NewDriver().session(r.job)
	if err != nil {
		t.Fatal(err)
	}
	c, ctx := s.client, context.Background()
	both := []string{"UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked"}
	sub, err := c.EnsureSubscription(ctx, Subscription{Version: "3.1", EventTypes: slices.Clone(both)})
	if err != nil {
		t.Fatalf("create: %v (%v)", err, r.sim.Refusals())
	}
	if _, err := c.EnsureSubscription(ctx, Subscription{Version: "3.1", EventTypes: []string{both[1], both[0]}}); err != nil {
		t.Fatal(err)
	}
	if n := r.sim.SignedRequests(); n != 1 {
		t.Fatalf("%d signed requests after a create and a reordered ensure, want 1 (no PUT)", n)
	}
	upd, err := c.EnsureSubscription(ctx, Subscription{Version: "3.1.10", EventTypes: both[:1]})
	if err != nil || upd.EventSubscriptionID != sub.EventSubscriptionID || upd.Version != "3.1.10" {
		t.Fatalf("update: %+v %v (%v)", upd, err, r.sim.Refusals())
	}
	if n := r.sim.SignedRequests(); n != 2 {
		t.Fatalf("%d signed requests, want 2 (POST and PUT)", n)
	}

	// By hand: unsigned, and altered after signing.
	body := []byte(`{"Data":{"EventSubscriptionId":"` + sub.EventSubscriptionID + `","Version":"3.1"}}`)
	sig, err := s.client.signer.DetachedSignature(body)
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Split(sig, "."); len(p) != 3 || p[1] != "" {
		t.Fatalf("signature %q is not detached", sig)
	}
	altered := bytes.Replace(body, []byte(`"3.1"`), []byte(`"3.2"`), 1)
	for _, tt := range []struct {
		name string
		body []byte
		sig  string
		want string
	}{
		{"unsigned", body, "", "x-jws-signature is required"},
		{"altered body", altered, sig, "does not verify over the body"},
		{"attached payload", body, signClaims(t, map[string]any{"x": 1}, tppKID), "detached"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, c.base+"/event-subscriptions/"+sub.EventSubscriptionID, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.sig != "" {
				req.Header.Set("x-jws-signature", tt.sig)
			}
			resp, err := c.authed.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.Contains(string(b), tt.want) {
				t.Fatalf("%d %s, want 400 saying %q", resp.StatusCode, b, tt.want)
			}
		})
	}
	if subs := r.sim.Subscriptions(); len(subs) != 1 || subs[0].Version != "3.1.10" {
		t.Fatalf("a refused request changed the subscription: %+v", subs)
	}
}

// TestTokenAuthSettingsRefused: settings that cannot work are configuration errors that say
// what to give, before anything is sent.
func TestTokenAuthSettingsRefused(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: -1}, obtest.TokenAuthJWT)
	c := r.job.Source.Config
	for _, tt := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"jwt without a key", map[string]string{CfgSigningKey: ""}, "needs a signing key"},
		{"key without a kid", map[string]string{CfgSigningKID: ""}, "no kid"},
		{"key file missing", map[string]string{CfgSigningKey: filepath.Join(t.TempDir(), "none.pem")}, "signing key"},
		{"file and keyring", map[string]string{CfgSigningKeyKeyring: "true"}, "give one"},
		{"tls without a certificate", map[string]string{CfgTokenAuth: TokenAuthTLS, "cert": "", "key": ""}, "needs the client certificate"},
		{"unknown auth", map[string]string{CfgTokenAuth: "client_secret_jwt"}, "say one of"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			saved := map[string]string{}
			for k, v := range c {
				saved[k] = v
			}
			defer func() { clear(c); maps(c, saved) }()
			for k, v := range tt.set {
				if v == "" {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			_, err := NewDriver().Sync(context.Background(), r.job)
			if err == nil || syncerr.KindOf(err) != syncerr.Config || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a configuration error saying %q", err, tt.want)
			}
		})
	}
	if n := r.sim.Requests("/token"); n != 0 {
		t.Errorf("%d token requests with settings that cannot work", n)
	}
}

func maps(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

// TestSigningKeyFromKeyring: a key imported into the keyring, encrypted, with its
// passphrase there too, signs as well as a file.
func TestSigningKeyFromKeyring(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: 4, InvalidEvery: -1}, obtest.TokenAuthJWT)
	//lint:ignore SA1019 the legacy encrypted PEM openssl genrsa -aes256 writes
	enc, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(tppKey), []byte("pw"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	c := r.job.Source.Config
	delete(c, CfgSigningKey)
	c[CfgSigningKeyKeyring] = "true"
	r.job.Secrets = memSecrets{"bank/" + SecretSigningKey: string(pem.EncodeToMemory(enc))}
	if _, err := NewDriver().Sync(context.Background(), r.job); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("without its passphrase: %v", err)
	}
	r.job.Secrets = memSecrets{"bank/" + SecretSigningKey: string(pem.EncodeToMemory(enc)), "bank/" + SecretSigningKeyPassphrase: "pw"}
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatalf("sync: %v (%v)", err, r.sim.Refusals())
	}
	r.checkDrained(t)
}

// FuzzParseSigningKey: any bytes give a usable key or an error, never a panic.
func FuzzParseSigningKey(f *testing.F) {
	f.Add(pkcs1PEM(tppKey), "")
	f.Add(pkcs8PEM(f, tppKey), "")
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), "pw")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		k, err := ParseSigningKey(data, pass)
		if err == nil && (k == nil || k.N.BitLen() < 2048) {
			t.Fatalf("accepted %v", k)
		}
	})
}

// TestSigningISS: signed requests carry the configured http://openbanking.org.uk/iss (for the
// Directory ORG-ID/SOFTWARE-STATEMENT-ID); a bank expecting another refuses the subscription
// request and the sync says why.
func TestSigningISS(t *testing.T) {
	const iss = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"
	r := newFAPIRig(t, obtest.Options{Events: 2, InvalidEvery: -1, SigningISS: iss}, obtest.TokenAuthJWT)
	_, err := NewDriver().Sync(context.Background(), r.job)
	if err == nil || !strings.Contains(err.Error(), "http://openbanking.org.uk/iss") {
		t.Fatalf("with the client id as iss: %v", err)
	}
	r.job.Source.Config[CfgSigningISS] = iss
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatalf("with %s: %v (%v)", iss, err, r.sim.Refusals())
	}
	r.checkDrained(t)
	if r.sim.SignedRequests() != 1 {
		t.Fatalf("%d signed requests", r.sim.SignedRequests())
	}
}
