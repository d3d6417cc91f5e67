package obtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// The FAPI side of the simulated bank: client authentication at the token endpoint
// (client secret, RFC 7523 private_key_jwt, RFC 8705 tls_client_auth) and the detached
// x-jws-signature of signed requests, checked as a bank that follows the Open Banking
// security profile checks them.

// clientAssertionType is the only client_assertion_type of RFC 7523 client authentication.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLife is the longest a client assertion may live (FAPI: exp at most 5 minutes
// after iat); maxSkew is the clock difference tolerated.
const (
	maxAssertionLife = 5 * time.Minute
	maxSkew          = 30 * time.Second
)

// obCrit are the crit names of an Open Banking signed request (3.1.4 on: no b64).
var obCrit = []string{"http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"}

// authenticateClient checks the token request's client authentication against the one the
// bank accepts and says why it is refused, or "".
func (s *Server) authenticateClient(r *http.Request) string {
	form := r.PostForm
	basicID, basicSecret, hasBasic := r.BasicAuth()
	formID := form.Get("client_id")
	hasSecret := hasBasic || form.Has("client_secret")
	hasAssertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	switch s.opts.TokenAuth {
	case "":
		if hasAssertion {
			return "this client authenticates with its client secret, not an assertion"
		}
		id, secret := basicID, basicSecret
		if !hasBasic {
			id, secret = formID, form.Get("client_secret")
		}
		if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
			return "unknown client or wrong secret"
		}
		return ""
	case TokenAuthTLS:
		if hasSecret || hasAssertion {
			return "this client authenticates with tls_client_auth only: a secret or an assertion is refused"
		}
		if formID != s.opts.ClientID {
			return "client_id missing or unknown"
		}
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return "tls_client_auth needs a client certificate"
		}
		if cn := r.TLS.VerifiedChains[0][0].Subject.CommonName; cn != s.opts.ClientCertCN {
			return fmt.Sprintf("the client certificate %q is not the one registered for %s", cn, s.opts.ClientID)
		}
		return ""
	case TokenAuthJWT:
		if hasSecret {
			return "this client authenticates with private_key_jwt: a client secret is refused"
		}
		if form.Get("client_assertion_type") != clientAssertionType {
			return "client_assertion_type must be " + clientAssertionType
		}
		return s.checkAssertion(form.Get("client_assertion"), formID)
	}
	return "no client authentication configured"
}

// checkAssertion verifies an RFC 7523 client assertion: PS256 with the registered key and
// kid, iss = sub = client id, aud = the token URL, exp in the future and at most 5 minutes
// after iat, and a jti never seen before.
func (s *Server) checkAssertion(assertion, formID string) string {
	if assertion == "" || len(assertion) > 8<<10 {
		return "client_assertion missing or too large"
	}
	hdr, why := protectedHeader(assertion)
	if why != "" {
		return "client_assertion: " + why
	}
	if hdr["alg"] != "PS256" {
		return fmt.Sprintf("client_assertion: alg %v, want PS256", hdr["alg"])
	}
	if hdr["kid"] != s.opts.ClientKID {
		return fmt.Sprintf("client_assertion: kid %v is not the registered key", hdr["kid"])
	}
	payload, err := jws.Verify([]byte(assertion), jws.WithKey(jwa.PS256(), s.opts.ClientKey))
	if err != nil {
		return "client_assertion: the signature does not verify with the registered key"
	}
	var c struct {
		ISS, SUB, JTI string
		AUD           json.RawMessage
		IAT, EXP      *int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "client_assertion: unreadable claims"
	}
	var aud []string
	var one string
	if json.Unmarshal(c.AUD, &one) == nil {
		aud = []string{one}
	} else {
		_ = json.Unmarshal(c.AUD, &aud)
	}
	now := s.opts.Now()
	switch {
	case c.ISS != s.opts.ClientID || c.SUB != s.opts.ClientID:
		return "client_assertion: iss and sub must be the client id"
	case formID != "" && formID != s.opts.ClientID:
		return "client_id does not match the assertion"
	case !slices.Contains(aud, s.TokenURL()):
		return fmt.Sprintf("client_assertion: aud %s is not the token endpoint %s", c.AUD, s.TokenURL())
	case c.JTI == "":
		return "client_assertion: no jti"
	case c.EXP == nil || c.IAT == nil:
		return "client_assertion: iat and exp are required"
	case time.Unix(*c.EXP, 0).Before(now.Add(-maxSkew)):
		return "client_assertion: expired"
	case time.Unix(*c.IAT, 0).After(now.Add(maxSkew)):
		return "client_assertion: issued in the future"
	case time.Duration(*c.EXP-*c.IAT)*time.Second > maxAssertionLife:
		return "client_assertion: exp is more than 5 minutes after iat"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, exp := range s.assertionJTIs {
		if exp.Before(now.Add(-maxSkew)) {
			delete(s.assertionJTIs, j)
		}
	}
	if _, seen := s.assertionJTIs[c.JTI]; seen {
		return "client_assertion: jti already used (replay)"
	}
	s.assertionJTIs[c.JTI] = time.Unix(*c.EXP, 0)
	return ""
}

// protectedHeader decodes the protected header of a compact JWS.
func protectedHeader(compact string) (map[string]any, string) {
	h, _, ok := strings.Cut(compact, ".")
	if !ok || strings.Count(compact, ".") != 2 {
		return nil, "not a compact JWS"
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, "the header is not base64url"
	}
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return nil, "the header is not JSON"
	}
	return hdr, ""
}

// signed checks the x-jws-signature of a signed request when the bank requires one, over the
// exact body bytes, and passes the body on.
func (s *Server) signed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			obError(w, 400, "UK.OBIE.Field.Invalid", "unreadable body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sig := r.Header.Get("x-jws-signature")
		if !s.opts.RequireSignedRequests && sig == "" {
			h(w, r)
			return
		}
		if why := s.checkSignature(sig, body); why != "" {
			s.mu.Lock()
			s.refusals = append(s.refusals, r.Method+" "+r.URL.Path+": "+why)
			s.mu.Unlock()
			obError(w, 400, "UK.OBIE.Signature.Invalid", why)
			return
		}
		s.mu.Lock()
		s.signedOK++
		s.mu.Unlock()
		h(w, r)
	}
}

// checkSignature verifies a detached x-jws-signature over body as the Open Banking profile
// says (3.1.4 on): PS256, the registered kid, crit exactly iat/iss/tan, no b64, iat in the
// past, iss the TPP, tan a trusted anchor.
func (s *Server) checkSignature(sig string, body []byte) string {
	if sig == "" {
		return "x-jws-signature is required"
	}
	if s.opts.ClientKey == nil {
		return "no key registered to verify x-jws-signature"
	}
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[1] != "" {
		return "x-jws-signature must be a detached compact JWS (header..signature)"
	}
	hdr, why := protectedHeader(sig)
	if why != "" {
		return "x-jws-signature: " + why
	}
	if _, ok := hdr["b64"]; ok {
		return "x-jws-signature: b64 is not allowed from 3.1.4 on"
	}
	if hdr["alg"] != "PS256" || hdr["kid"] != s.opts.ClientKID {
		return fmt.Sprintf("x-jws-signature: alg %v kid %v, want PS256 and the registered kid", hdr["alg"], hdr["kid"])
	}
	var crit []string
	if list, ok := hdr["crit"].([]any); ok {
		for _, c := range list {
			if n, ok := c.(string); ok {
				crit = append(crit, n)
			}
		}
	}
	slices.Sort(crit)
	if !slices.Equal(crit, obCrit) {
		return fmt.Sprintf("x-jws-signature: crit %v, want %v", hdr["crit"], obCrit)
	}
	iat, ok := hdr["http://openbanking.org.uk/iat"].(float64)
	if !ok || time.Unix(int64(iat), 0).After(s.opts.Now().Add(maxSkew)) {
		return "x-jws-signature: http://openbanking.org.uk/iat missing or in the future"
	}
	if hdr["http://openbanking.org.uk/iss"] != s.opts.SigningISS {
		return fmt.Sprintf("x-jws-signature: http://openbanking.org.uk/iss %v, want %s", hdr["http://openbanking.org.uk/iss"], s.opts.SigningISS)
	}
	if hdr["http://openbanking.org.uk/tan"] != "openbanking.org.uk" {
		return "x-jws-signature: http://openbanking.org.uk/tan is not a trusted anchor"
	}
	if _, err := jws.Verify([]byte(sig), jws.WithKey(jwa.PS256(), s.opts.ClientKey), jws.WithDetachedPayload(body),
		jws.WithCritValidation(true), jws.WithCritExtension(obCrit...)); err != nil {
		return "x-jws-signature does not verify over the body"
	}
	return ""
}

// SignedRequests is how many requests carried a verified x-jws-signature.
func (s *Server) SignedRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signedOK
}

// Refusals lists why the token endpoint or a signed request refused a client, in order.
func (s *Server) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refusals)
}

// CallbackURLs returns the registered callback URLs (the Callback URL API).
func (s *Server) CallbackURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.callbacks {
		out = append(out, c.URL)
	}
	slices.Sort(out)
	return out
}
