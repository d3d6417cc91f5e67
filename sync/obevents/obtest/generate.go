package obtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Invalid kinds of generated events, used in turn.
const (
	InvalidSignature = "bad-signature"
	InvalidAudience  = "wrong-audience"
	InvalidKey       = "unknown-key"
	InvalidEvents    = "events-as-string"
)

var invalidKinds = []string{InvalidSignature, InvalidAudience, InvalidKey, InvalidEvents}

// Generate queues one more realistic event, signed by the bank (PS256 with the Open Banking
// JOSE header, or ES256), and returns its jti and whether it is valid. Every InvalidEvery-th
// event is invalid in one of four ways, in turn.
func (s *Server) Generate() (jti string, valid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generated++
	n := s.generated
	invalid := ""
	if s.opts.InvalidEvery > 0 && n%s.opts.InvalidEvery == 0 {
		invalid = invalidKinds[(n/s.opts.InvalidEvery-1)%len(invalidKinds)]
	}
	token, jti, err := s.mintLocked(n, invalid)
	if err != nil {
		// Signing with freshly generated keys does not fail; a failure here is a bug.
		panic(fmt.Sprintf("obtest: sign event: %v", err))
	}
	s.queue = append(s.queue, queued{JTI: jti, Token: token, Valid: invalid == ""})
	return jti, invalid == ""
}

func (s *Server) expectedLocked() (valid, invalid []string) {
	for _, q := range s.allGenerated {
		if q.Valid {
			valid = append(valid, q.JTI)
		} else {
			invalid = append(invalid, q.JTI)
		}
	}
	return valid, invalid
}

type eventShape struct {
	types   []string
	rty     string
	area    string // API area and resource collection of the subject
	prefix  string
	reason  string
	consent bool // sub is a consent while the subject is an account
}

var shapes = []eventShape{
	{types: []string{"urn:uk:org:openbanking:events:resource-update"}, rty: "domestic-payment", area: "pisp/domestic-payments", prefix: "pmt"},
	{types: []string{"urn:uk:org:openbanking:events:consent-authorization-revoked"}, rty: "account-access-consent", area: "aisp/account-access-consents", prefix: "aac"},
	{types: []string{"urn:uk:org:openbanking:events:resource-update"}, rty: "domestic-scheduled-payment", area: "pisp/domestic-scheduled-payments", prefix: "dsp"},
	{types: []string{"urn:uk:org:openbanking:events:account-access-consent-linked-account-update"}, rty: "accounts", area: "aisp/accounts", prefix: "acc", reason: "UK.OBIE.AccountClosure", consent: true},
	{types: []string{"urn:uk:org:openbanking:events:resource-update", "urn:uk:org:openbanking:events:consent-authorization-revoked"}, rty: "funds-confirmation-consent", area: "cbpii/funds-confirmation-consents", prefix: "fcc"},
	{types: []string{"urn:uk:org:openbanking:events:consent-access-revoked"}, rty: "domestic-vrp-consents", area: "pisp/domestic-vrp-consents", prefix: "vrp"},
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func (s *Server) mintLocked(n int, invalid string) (token, jti string, err error) {
	sh := shapes[(n-1)%len(shapes)]
	rid := fmt.Sprintf("%s-%04d", sh.prefix, n)
	return s.mintShapeLocked(n, sh, rid, invalid, true)
}

// mintShapeLocked signs an event of the given shape about resource rid; withResource makes
// the bank hold the resource too, in the shape of the specification's examples.
func (s *Server) mintShapeLocked(n int, sh eventShape, rid, invalid string, withResource bool) (token, jti string, err error) {
	now := s.opts.Now().UTC()
	path := resourcePath(sh.area, rid)
	if withResource {
		kind := sh.area[strings.LastIndexByte(sh.area, '/')+1:]
		s.resources[path] = Resource{Kind: kind, ID: rid, Status: defaultStatus(kind), At: now}.body(s.url + path)
	}
	jti = fmt.Sprintf("%s-%04d-4%s-8%s-%s", randHex(4), n, randHex(2)[:3], randHex(2)[:3], randHex(6))
	subject := map[string]any{
		"subject_type":                  "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
		"http://openbanking.org.uk/rid": rid,
		"http://openbanking.org.uk/rty": sh.rty,
		"http://openbanking.org.uk/rlk": []map[string]string{{"version": "v3.1", "link": s.url + path}},
	}
	events := map[string]any{}
	for i, t := range sh.types {
		ev := map[string]any{}
		if i == 0 {
			ev["subject"] = subject
			if sh.reason != "" {
				ev["reason"] = sh.reason
			}
		}
		events[t] = ev
	}
	sub := s.url + path
	if sh.consent {
		sub = s.url + resourcePath("aisp/account-access-consents", fmt.Sprintf("aac-%04d", n))
	}
	aud := s.opts.ClientID
	if invalid == InvalidAudience {
		aud = "some-other-tpp"
	}
	claims := map[string]any{
		"iss": s.opts.Issuer, "iat": now.Unix(), "jti": jti, "aud": aud, "sub": sub,
		"txn": "txn-" + randHex(6), "toe": now.Add(-30 * 1e9).Unix(), "events": events,
	}
	if invalid == InvalidEvents {
		b, _ := json.Marshal(events[sh.types[0]])
		claims["events"] = map[string]any{sh.types[0]: string(b)}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	hdr := jws.NewHeaders()
	var alg jwa.SignatureAlgorithm
	var key any
	if n%4 == 3 && invalid == "" && !s.opts.OnlyPS256 {
		alg, key = jwa.ES256(), s.ecKey
		_ = hdr.Set("kid", s.ecKID)
		_ = hdr.Set("typ", "secevent+jwt")
	} else {
		alg, key = jwa.PS256(), s.rsaKey
		_ = hdr.Set("kid", s.rsaKID)
		if invalid == InvalidKey {
			key = s.rogue
			_ = hdr.Set("kid", "rogue-"+randHex(4))
		}
		_ = hdr.Set("http://openbanking.org.uk/iat", now.Unix())
		_ = hdr.Set("http://openbanking.org.uk/iss", s.opts.OrgID)
		_ = hdr.Set("http://openbanking.org.uk/tan", "openbanking.org.uk")
		_ = hdr.Set("crit", []string{"http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"})
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", "", err
	}
	token = string(signed)
	if invalid == InvalidSignature {
		token = flipSignature(token)
	}
	s.allGenerated = append(s.allGenerated, queued{JTI: jti, Valid: invalid == ""})
	return token, jti, nil
}

// flipSignature changes one byte of the signature, keeping it valid base64url.
func flipSignature(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		return token
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *Server) jwksLocked() []byte {
	ecb, _ := s.ecKey.PublicKey.Bytes() // 0x04 || X || Y
	keys := []map[string]string{
		{"kty": "RSA", "use": "sig", "alg": "PS256", "kid": s.rsaKID,
			"n": b64(s.rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(s.rsaKey.E)).Bytes())},
		{"kty": "EC", "use": "sig", "alg": "ES256", "kid": s.ecKID, "crv": "P-256",
			"x": b64(ecb[1:33]), "y": b64(ecb[33:65])},
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}
