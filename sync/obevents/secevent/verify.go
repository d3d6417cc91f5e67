package secevent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// MaxTokenSize is the largest token accepted, in a push body or as one value of a poll answer.
const MaxTokenSize = 64 << 10

// The Open Banking JOSE header extensions a verifier understands (listed in "crit").
const (
	HeaderOBIat = "http://openbanking.org.uk/iat"
	HeaderOBIss = "http://openbanking.org.uk/iss"
	HeaderOBTan = "http://openbanking.org.uk/tan"
)

// allowedTyp are the accepted values of the typ header (lower case, without "application/"):
// Open Banking's JOSE, RFC 8417's secevent+jwt, and plain JWT.
var allowedTyp = []string{"jose", "jwt", "secevent+jwt"}

// obCrit are the crit names understood; anything else in crit is refused (RFC 7515 §4.1.11).
var obCrit = []string{HeaderOBIat, HeaderOBIss, HeaderOBTan}

// Event type URNs of Open Banking UK.
const (
	TypeResourceUpdate      = "urn:uk:org:openbanking:events:resource-update"
	TypeConsentRevoked      = "urn:uk:org:openbanking:events:consent-authorization-revoked"
	TypeLinkedAccountUpdate = "urn:uk:org:openbanking:events:account-access-consent-linked-account-update"
)

// RFC 8935 §2.4 delivery error codes (the IANA "Security Event Token Error Codes" registry).
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidKey           = "invalid_key"
	ErrInvalidIssuer        = "invalid_issuer"
	ErrInvalidAudience      = "invalid_audience"
	ErrAuthenticationFailed = "authentication_failed"
	ErrAccessDenied         = "access_denied"
)

// Rejection is a permanent verdict on a token: it is not a valid SET for this recipient, and
// saying so to the bank (setErrs, or a 400 to a push) is right. Code is the RFC 8935 code and
// Draft the code of draft-ietf-secevent-http-push-03 that some banks still expect.
type Rejection struct {
	Code        string
	Draft       string
	Description string
}

// Error is the code and the description.
func (r *Rejection) Error() string { return r.Code + ": " + r.Description }

// CodeFor returns the error code to send: the draft code when draft is set, else the RFC one.
func (r *Rejection) CodeFor(draft bool) string {
	if draft && r.Draft != "" {
		return r.Draft
	}
	return r.Code
}

func reject(code, draft, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Draft: draft, Description: fmt.Sprintf(format, args...)}
}

// IsRejection reports whether err is a permanent verdict on a token (as opposed to a
// temporary local failure, such as the bank's key set being unreachable, after which the token
// must be neither acknowledged nor reported as an error).
func IsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

// Link is one entry of a subject's rlk: the resource in one API version.
type Link struct {
	Version string `json:"version"`
	Link    string `json:"link"`
}

// SET is a decoded security event token. Verify fills in as much as it could decode even when
// it rejects the token, so a rejected token is still stored with what it said.
type SET struct {
	Header  map[string]any
	ISS     string
	JTI     string
	AUD     []string
	Sub     string
	TXN     string
	IAT     time.Time
	TOE     time.Time
	Types   []string // event type URNs, sorted
	Events  map[string]json.RawMessage
	RID     string // of the resource-update subject when there is one, else of the first event's subject
	RTY     string
	Links   []Link
	Subject json.RawMessage // the subject object RID and RTY come from
}

// KeyProvider resolves a key id to a verification key. It returns an error wrapping
// ErrUnknownKey when the bank's key set does not hold the kid (after a refresh), and any other
// error for a temporary failure to get the key set.
type KeyProvider interface {
	Key(ctx context.Context, kid string) (PublicKey, error)
}

// ErrUnknownKey means the bank's key set has no key with the token's kid.
var ErrUnknownKey = errors.New("unknown key id")

// PublicKey is one verification key from the bank's key set.
type PublicKey struct {
	KID string
	Alg string // the JWK's alg, empty when it carries none
	Use string // the JWK's use, empty when it carries none
	Key any    // *rsa.PublicKey or *ecdsa.PublicKey; nil when Refused
	// Refused says why the key is not used (such as "an RSA key of 65536 bits"); a token
	// naming it is rejected with this reason, and no signature is checked with it.
	Refused string
}

// Verifier checks security event tokens of one bank for one recipient.
type Verifier struct {
	Issuer   string   // expected iss claim
	Audience string   // our client_id: aud must be or contain it
	Algs     []string // allowed algorithms; default PS256 and ES256
	// OrgID, when set, is the bank's Open Banking organisation id that the
	// http://openbanking.org.uk/iss header must equal when present.
	OrgID string
	// TrustAnchors are the accepted values of http://openbanking.org.uk/tan; default
	// openbanking.org.uk.
	TrustAnchors []string
	// Skew is the clock difference tolerated on iat and the OB iat header; default 5 minutes.
	Skew time.Duration
	// MaxAge, when set, rejects tokens issued longer ago than this.
	MaxAge time.Duration
	Keys   KeyProvider
	Now    func() time.Time
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) algs() []string {
	if len(v.Algs) > 0 {
		return v.Algs
	}
	return []string{"PS256", "ES256"}
}

func (v *Verifier) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return 5 * time.Minute
}

// Verify checks a compact JWS security event token in the order that yields the right RFC 8935
// code: shape, header and algorithm allow-list, crit, key, signature, claims, issuer,
// audience. A permanent verdict is a *Rejection; any other error is a temporary local failure.
func (v *Verifier) Verify(ctx context.Context, token string) (SET, error) {
	var set SET
	token = strings.TrimSpace(token)
	if len(token) > MaxTokenSize {
		return set, reject(ErrInvalidRequest, "jwtParse", "token is %d bytes, more than the %d accepted", len(token), MaxTokenSize)
	}
	if strings.HasPrefix(token, "{") {
		return set, reject(ErrInvalidRequest, "jwtParse", "token is in JSON serialization; a compact JWS is required")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return set, reject(ErrInvalidRequest, "jwtParse", "token has %d parts; a compact JWS has 3", len(parts))
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return set, reject(ErrInvalidRequest, "jwtParse", "header is not base64url: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return set, reject(ErrInvalidRequest, "jwtParse", "payload is not base64url: %v", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return set, reject(ErrInvalidRequest, "jwtParse", "signature is not base64url: %v", err)
	}
	hdr, err := decodeObject(hdrJSON)
	if err != nil {
		return set, reject(ErrInvalidRequest, "jwtHdr", "header: %v", err)
	}
	set.Header = hdr
	// Decode the claims early (unverified) so that a rejected token is stored with what it
	// said; nothing from them is trusted before the signature is checked.
	claimsErr := decodeClaims(payload, &set)

	alg, _ := hdr["alg"].(string)
	if !slices.Contains(v.algs(), alg) {
		return set, reject(ErrInvalidKey, "jwtCrypto", "algorithm %q is not allowed (allowed: %s)", alg, strings.Join(v.algs(), ", "))
	}
	kid, _ := hdr["kid"].(string)
	if kid == "" {
		return set, reject(ErrInvalidKey, "jwtHdr", "header has no kid")
	}
	if typ, ok := hdr["typ"]; ok {
		t, _ := typ.(string)
		if !slices.Contains(allowedTyp, strings.ToLower(strings.TrimPrefix(strings.ToLower(t), "application/"))) {
			// Explicit typing keeps other JWTs (access tokens, ID tokens) from passing as events.
			return set, reject(ErrInvalidRequest, "jwtHdr", "typ %q is not a security event token type", t)
		}
	}
	if cty, ok := hdr["cty"]; ok {
		if c, _ := cty.(string); c != "json" && c != "application/json" {
			return set, reject(ErrInvalidRequest, "jwtHdr", "cty %q: a nested or non-JSON payload is not accepted", c)
		}
	}
	if b, ok := hdr["b64"]; ok && b != true {
		return set, reject(ErrInvalidRequest, "jwtHdr", "b64 header is not allowed in an event token")
	}
	if rej := v.checkCrit(hdr); rej != nil {
		return set, rej
	}

	key, err := v.Keys.Key(ctx, kid)
	if errors.Is(err, ErrUnknownKey) {
		return set, reject(ErrInvalidKey, "jws", "key id %q is not in the bank's key set", kid)
	}
	if err != nil {
		return set, fmt.Errorf("get key %q: %w", kid, err)
	}
	if rej := checkKey(key, alg); rej != nil {
		return set, rej
	}
	if _, ok := jwa.LookupSignatureAlgorithm(alg); !ok {
		return set, reject(ErrInvalidKey, "jwtCrypto", "algorithm %q is not supported", alg)
	}
	// The signature over "header.payload", checked by jwx's building block for it. The header
	// has been read and checked above (alg, crit, b64); jws.Verify would parse the whole
	// message again into its own header type, which cost as much as the RSA operation.
	signingInput := token[:len(parts[0])+1+len(parts[1])]
	if err := jwsbb.Verify(key.Key, alg, []byte(signingInput), sig); err != nil {
		return set, reject(ErrInvalidKey, "jws", "signature verification failed")
	}

	if claimsErr != nil {
		return set, claimsErr
	}
	if set.ISS != v.Issuer {
		return set, reject(ErrInvalidIssuer, "jwtIss", "iss %q is not the configured issuer %q", set.ISS, v.Issuer)
	}
	if !slices.Contains(set.AUD, v.Audience) {
		return set, reject(ErrInvalidAudience, "jwtAud", "aud %q does not name this client %q", strings.Join(set.AUD, ","), v.Audience)
	}
	now := v.now()
	if set.IAT.After(now.Add(v.skew())) {
		return set, reject(ErrInvalidRequest, "setData", "iat %s is in the future", set.IAT.Format(time.RFC3339))
	}
	if v.MaxAge > 0 && set.IAT.Before(now.Add(-v.MaxAge)) {
		return set, reject(ErrInvalidRequest, "setData", "iat %s is older than %s", set.IAT.Format(time.RFC3339), v.MaxAge)
	}
	if set.TOE.After(set.IAT.Add(v.skew())) {
		return set, reject(ErrInvalidRequest, "setData", "toe %s is after iat %s (milliseconds instead of seconds?)",
			set.TOE.Format(time.RFC3339), set.IAT.Format(time.RFC3339))
	}
	return set, nil
}

// checkCrit enforces RFC 7515 §4.1.11 and the Open Banking header rules.
func (v *Verifier) checkCrit(hdr map[string]any) *Rejection {
	if raw, ok := hdr["crit"]; ok {
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			return reject(ErrInvalidRequest, "jwtHdr", "crit must be a non-empty array of names")
		}
		for _, n := range list {
			name, ok := n.(string)
			if !ok {
				return reject(ErrInvalidRequest, "jwtHdr", "crit must list names")
			}
			if !slices.Contains(obCrit, name) {
				return reject(ErrInvalidRequest, "jwtHdr", "crit names %q, an extension not understood", name)
			}
			if _, present := hdr[name]; !present {
				return reject(ErrInvalidRequest, "jwtHdr", "crit names %q but the header does not carry it", name)
			}
		}
	}
	if raw, ok := hdr[HeaderOBIat]; ok {
		n, ok := raw.(json.Number)
		sec, err := n.Int64()
		if !ok || err != nil {
			return reject(ErrInvalidRequest, "jwtHdr", "%s must be a number of seconds", HeaderOBIat)
		}
		if time.Unix(sec, 0).After(v.now().Add(v.skew())) {
			return reject(ErrInvalidRequest, "jwtHdr", "%s %s is in the future", HeaderOBIat, time.Unix(sec, 0).UTC().Format(time.RFC3339))
		}
	}
	if raw, ok := hdr[HeaderOBIss]; ok {
		s, ok := raw.(string)
		if !ok || s == "" {
			return reject(ErrInvalidRequest, "jwtHdr", "%s must be a string", HeaderOBIss)
		}
		if v.OrgID != "" && s != v.OrgID {
			return reject(ErrInvalidIssuer, "jwtIss", "%s %q is not the bank's organisation id %q", HeaderOBIss, s, v.OrgID)
		}
	}
	if raw, ok := hdr[HeaderOBTan]; ok {
		s, _ := raw.(string)
		anchors := v.TrustAnchors
		if len(anchors) == 0 {
			anchors = []string{"openbanking.org.uk"}
		}
		if !slices.Contains(anchors, s) {
			return reject(ErrInvalidIssuer, "jwtIss", "trust anchor %s %q is not trusted", HeaderOBTan, s)
		}
	}
	return nil
}

// checkKey refuses a key refused by ParseJWKS or that does not fit the algorithm: RSA of 2048 to 4096 bits for
// PS256, P-256 for ES256, use "sig" and the same alg when the JWK says.
func checkKey(k PublicKey, alg string) *Rejection {
	if k.Use != "" && k.Use != "sig" {
		return reject(ErrInvalidKey, "jwtCrypto", "key %q has use %q, not sig", k.KID, k.Use)
	}
	if k.Refused != "" {
		return reject(ErrInvalidKey, "jwtCrypto", "key %q was refused: it is %s", k.KID, k.Refused)
	}
	if k.Alg != "" && k.Alg != alg {
		return reject(ErrInvalidKey, "jwtCrypto", "key %q is for %s, the token says %s", k.KID, k.Alg, alg)
	}
	if err := keyFitsAlg(k.Key, alg); err != nil {
		return reject(ErrInvalidKey, "jwtCrypto", "key %q: %v", k.KID, err)
	}
	return nil
}

// decodeObject decodes a JSON object with numbers kept as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	if m, ok := objectFast(b); ok {
		return m, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if memberCount(b) != len(m) {
		// Parsers differ on which of two equal names wins; refuse the ambiguity.
		return nil, errors.New("a member name appears twice")
	}
	return m, nil
}

// memberCount counts the members of the JSON object b, which a decoder has found valid: the
// colons outside strings at the object's own level. A name that appears twice is counted
// twice, while a map holds it once.
func memberCount(b []byte) int {
	n, depth, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ':' && depth == 1:
			n++
		}
	}
	return n
}

// rawClaims is the SET claim set as sent; the typed checks happen in decodeClaims.
type rawClaims struct {
	ISS    json.RawMessage `json:"iss"`
	IAT    json.RawMessage `json:"iat"`
	JTI    json.RawMessage `json:"jti"`
	AUD    json.RawMessage `json:"aud"`
	Sub    json.RawMessage `json:"sub"`
	TXN    json.RawMessage `json:"txn"`
	TOE    json.RawMessage `json:"toe"`
	Events json.RawMessage `json:"events"`
}

// decodeClaims fills set from the payload and returns the first rule the claims break.
// It fills every field it can before returning, so a rejected token still says what it can.
func decodeClaims(payload []byte, set *SET) *Rejection {
	var rc rawClaims
	if !claimsFast(payload, &rc) {
		if err := json.Unmarshal(payload, &rc); err != nil {
			return reject(ErrInvalidRequest, "setParse", "claims are not a JSON object: %v", err)
		}
	}
	var first *Rejection
	fail := func(r *Rejection) {
		if first == nil {
			first = r
		}
	}
	str := func(name string, raw json.RawMessage, dst *string, required bool, max int) {
		if len(raw) == 0 || string(raw) == "null" {
			if required {
				fail(reject(ErrInvalidRequest, "setData", "claim %s is missing", name))
			}
			return
		}
		if v, ok := plainString(raw); ok {
			*dst = v
		} else if err := json.Unmarshal(raw, dst); err != nil {
			fail(reject(ErrInvalidRequest, "setData", "claim %s is not a string", name))
			return
		}
		if required && *dst == "" {
			fail(reject(ErrInvalidRequest, "setData", "claim %s is empty", name))
		}
		if max > 0 && len(*dst) > max {
			fail(reject(ErrInvalidRequest, "setData", "claim %s is longer than %d characters", name, max))
		}
	}
	num := func(name string, raw json.RawMessage, dst *time.Time) {
		if len(raw) == 0 || string(raw) == "null" {
			fail(reject(ErrInvalidRequest, "setData", "claim %s is missing", name))
			return
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil && json.Unmarshal(raw, &n) != nil {
			fail(reject(ErrInvalidRequest, "setData", "claim %s is not an integer number of seconds: %s", name, truncate(string(raw), 40)))
			return
		}
		*dst = time.Unix(n, 0).UTC()
	}
	str("jti", rc.JTI, &set.JTI, true, 128)
	str("iss", rc.ISS, &set.ISS, true, 0)
	str("sub", rc.Sub, &set.Sub, false, 0)
	str("txn", rc.TXN, &set.TXN, false, 128)
	num("iat", rc.IAT, &set.IAT)
	num("toe", rc.TOE, &set.TOE)
	switch {
	case len(rc.AUD) == 0:
		fail(reject(ErrInvalidAudience, "jwtAud", "claim aud is missing"))
	case rc.AUD[0] == '[':
		if err := json.Unmarshal(rc.AUD, &set.AUD); err != nil {
			fail(reject(ErrInvalidRequest, "setData", "claim aud is not a string or an array of strings"))
		}
	default:
		var a string
		if err := json.Unmarshal(rc.AUD, &a); err != nil {
			fail(reject(ErrInvalidRequest, "setData", "claim aud is not a string or an array of strings"))
		} else {
			set.AUD = []string{a}
		}
	}
	if len(rc.Events) == 0 || rc.Events[0] != '{' {
		fail(reject(ErrInvalidRequest, "setParse", "claim events is missing or not a JSON object"))
		return first
	}
	events, order, fast := eventsFast(rc.Events)
	if fast {
		set.Events = events
	} else if err := json.Unmarshal(rc.Events, &set.Events); err != nil {
		fail(reject(ErrInvalidRequest, "setParse", "claim events: %v", err))
		return first
	}
	if len(set.Events) == 0 {
		fail(reject(ErrInvalidRequest, "setParse", "claim events is empty"))
	}
	for typ := range set.Events {
		set.Types = append(set.Types, typ)
	}
	slices.Sort(set.Types)
	for _, typ := range set.Types {
		if raw := bytes.TrimSpace(set.Events[typ]); len(raw) == 0 || raw[0] != '{' {
			fail(reject(ErrInvalidRequest, "setParse", "event %s is not a JSON object", typ))
		}
	}
	// The subject: of the resource-update event when there is one, else of the first event
	// (in the token's order) that has one.
	subject := func(typ string) (found bool) {
		if found, ok := subjectFast(set.Events[typ], set); ok {
			return found
		}
		var ev struct {
			Subject json.RawMessage `json:"subject"`
		}
		if json.Unmarshal(set.Events[typ], &ev) != nil || len(ev.Subject) == 0 || ev.Subject[0] != '{' {
			return false
		}
		var subj struct {
			RID any    `json:"http://openbanking.org.uk/rid"`
			RTY any    `json:"http://openbanking.org.uk/rty"`
			RLK []Link `json:"http://openbanking.org.uk/rlk"`
		}
		if err := json.Unmarshal(ev.Subject, &subj); err != nil {
			fail(reject(ErrInvalidRequest, "setData", "event %s: subject: %v", typ, err))
			return true
		}
		set.RID, _ = subj.RID.(string)
		set.RTY, _ = subj.RTY.(string)
		set.Links = subj.RLK
		set.Subject = ev.Subject
		return true
	}
	_, found := set.Events[TypeResourceUpdate]
	found = found && subject(TypeResourceUpdate)
	if !found {
		// The token's order matters only when there are several events.
		if !fast {
			order = set.Types
			if len(set.Events) > 1 {
				order = objectKeys(rc.Events)
			}
		}
		for _, typ := range order {
			if typ != TypeResourceUpdate && subject(typ) {
				break
			}
		}
	}
	if slices.Contains(set.Types, TypeResourceUpdate) && set.RID == "" {
		fail(reject(ErrInvalidRequest, "setData", "resource-update event has no subject rid"))
	}
	return first
}

// objectKeys returns the member names of a JSON object in the order they appear.
func objectKeys(raw json.RawMessage) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
