package secevent

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// vectorNow is a fixed "now" after the synthetic tokens were issued (2026-01-01).
var vectorNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type expectedFile struct {
	JWKS        string   `json:"jwks"`
	ExpectedIss string   `json:"expected_iss"`
	ExpectedAud string   `json:"expected_aud"`
	OrgID       string   `json:"aspsp_org_id"`
	AllowedAlgs []string `json:"allowed_algs"`
	Fixtures    []struct {
		File   string  `json:"file"`
		Expect string  `json:"expect"`
		SetErr *string `json:"setErr"`
		Note   string  `json:"note"`
	} `json:"fixtures"`
}

func readExpected(t testing.TB, dir string) expectedFile {
	t.Helper()
	var ex expectedFile
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

func vectorVerifier(t testing.TB) (*Verifier, expectedFile) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "synthetic")
	ex := readExpected(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, ex.JWKS))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	return &Verifier{
		Issuer: ex.ExpectedIss, Audience: ex.ExpectedAud, Algs: ex.AllowedAlgs, OrgID: ex.OrgID,
		Keys: StaticKeys(keys), Now: func() time.Time { return vectorNow },
	}, ex
}

// TestSyntheticVectors gives every synthetic vector the outcome its expected.json states.
func TestSyntheticVectors(t *testing.T) {
	v, ex := vectorVerifier(t)
	if len(ex.Fixtures) != 21 {
		t.Fatalf("expected.json lists %d vectors, want 21", len(ex.Fixtures))
	}
	for _, fx := range ex.Fixtures {
		t.Run(fx.File, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic", fx.File))
			if err != nil {
				t.Fatal(err)
			}
			set, err := v.Verify(context.Background(), string(b))
			switch fx.Expect {
			case "valid", "accept-recommended":
				if err != nil {
					t.Fatalf("%s: want valid, got %v", fx.Note, err)
				}
				if set.JTI == "" || set.ISS != ex.ExpectedIss || len(set.Types) == 0 {
					t.Fatalf("decoded SET incomplete: %+v", set)
				}
			case "reject", "reject-or-lenient":
				rej, ok := IsRejection(err)
				if !ok {
					t.Fatalf("%s: want rejection %v, got %v", fx.Note, fx.SetErr, err)
				}
				if fx.SetErr == nil || rej.Code != *fx.SetErr {
					t.Fatalf("%s: code %q, want %v (%s)", fx.Note, rej.Code, fx.SetErr, rej.Description)
				}
				if rej.Description == "" || rej.Draft == "" {
					t.Fatalf("rejection without description or draft code: %+v", rej)
				}
			default:
				t.Fatalf("unknown expectation %q", fx.Expect)
			}
		})
	}
}

// TestVectorDetails checks what the decoder takes out of the valid vectors.
func TestVectorDetails(t *testing.T) {
	v, _ := vectorVerifier(t)
	cases := []struct {
		file, rid, rty string
		types          []string
		links          int
	}{
		{"01-valid-ps256-ob-crit-resource-update.jwt", "pmt-0001", "domestic-payment", []string{TypeResourceUpdate}, 2},
		{"02-valid-ps256-minimal-consent-authorization-revoked.jwt", "aac-0001", "account-access-consent", []string{TypeConsentRevoked}, 1},
		{"03-valid-es256-secevent-typ-linked-account-update.jwt", "acc-9001", "accounts", []string{TypeLinkedAccountUpdate}, 1},
		{"04-valid-ps256-ob-crit-two-events-cbpii.jwt", "fcc-0001", "funds-confirmation-consent", []string{TypeConsentRevoked, TypeResourceUpdate}, 1},
		{"18-edge-aud-array.jwt", "pmt-0001", "domestic-payment", []string{TypeResourceUpdate}, 2},
	}
	for _, c := range cases {
		b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", c.file))
		set, err := v.Verify(context.Background(), string(b))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if set.RID != c.rid || set.RTY != c.rty || strings.Join(set.Types, " ") != strings.Join(c.types, " ") || len(set.Links) != c.links {
			t.Errorf("%s: got rid %q rty %q types %v links %d", c.file, set.RID, set.RTY, set.Types, len(set.Links))
		}
		if !set.TOE.Equal(time.Unix(1767225600, 0)) || !set.IAT.Equal(time.Unix(1767225605, 0)) {
			t.Errorf("%s: toe %v iat %v", c.file, set.TOE, set.IAT)
		}
	}
}

// TestOBDocsAndRFCTokensRejected: the OB documentation tokens are HS256 and the RFC 8417 and
// RFC 8936 ones are unsigned or truncated; none may pass, none may panic.
func TestOBDocsAndRFCTokensRejected(t *testing.T) {
	v, _ := vectorVerifier(t)
	var tokens []string
	for _, f := range []string{
		"ob-docs/v4.0-example1-resource-update-domestic-payment.jwt",
		"ob-docs/v4.0-example2-cbpii-consent-revoked-plus-resource-update.jwt",
		"ob-docs/v4.0-example3-ais-consent-authorization-revoked.jwt",
		"rfc/rfc8417-fig6-unsecured-scim-set.jwt",
		"rfc/rfc7515-a3-es256.jws",
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(b))
	}
	for _, f := range []string{"ob-docs/poll-only.response.json", "ob-docs/poll-ack-with-errors.response.json", "rfc/rfc8936-fig6-two-sets.response.json"} {
		b, _ := os.ReadFile(filepath.Join("..", "testdata", f))
		var pr PollResponse
		if err := json.Unmarshal(b, &pr); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tok := range pr.Sets {
			tokens = append(tokens, tok)
		}
	}
	for i, tok := range tokens {
		_, err := v.Verify(context.Background(), tok)
		rej, ok := IsRejection(err)
		if !ok {
			t.Fatalf("token %d: want a rejection, got %v", i, err)
		}
		if rej.Code != ErrInvalidKey && rej.Code != ErrInvalidRequest {
			t.Errorf("token %d: code %s (%s)", i, rej.Code, rej.Description)
		}
	}
	// The HS256 examples fail on the algorithm allow-list, before any key is consulted.
	_, err := v.Verify(context.Background(), tokens[0])
	if rej, _ := IsRejection(err); rej.Code != ErrInvalidKey || !strings.Contains(rej.Description, "HS256") {
		t.Errorf("HS256 example: %v", err)
	}
}

// TestDraftCodes: a bank that wants the draft error codes gets them.
func TestDraftCodes(t *testing.T) {
	v, _ := vectorVerifier(t)
	want := map[string]string{
		"08-invalid-wrong-aud.jwt": "jwtAud", "09-invalid-wrong-iss.jwt": "jwtIss",
		"05-invalid-bad-signature.jwt": "jws", "10-invalid-alg-none.jwt": "jwtCrypto",
	}
	for f, code := range want {
		b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", f))
		_, err := v.Verify(context.Background(), string(b))
		rej, _ := IsRejection(err)
		if rej == nil || rej.CodeFor(true) != code {
			t.Errorf("%s: draft code %v, want %s", f, rej, code)
		}
	}
}

// TestAlgAllowListPS256Only: with the strict OB default an ES256 token is refused.
func TestAlgAllowListPS256Only(t *testing.T) {
	v, _ := vectorVerifier(t)
	v.Algs = []string{"PS256"}
	b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "03-valid-es256-secevent-typ-linked-account-update.jwt"))
	_, err := v.Verify(context.Background(), string(b))
	if rej, ok := IsRejection(err); !ok || rej.Code != ErrInvalidKey {
		t.Fatalf("got %v", err)
	}
}

// TestOrgIDAndTrustAnchor: the OB iss and tan headers are checked against the configuration.
func TestOrgIDAndTrustAnchor(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "01-valid-ps256-ob-crit-resource-update.jwt"))
	v, _ := vectorVerifier(t)
	v.OrgID = "0015800001OTHER"
	if _, err := v.Verify(context.Background(), string(b)); err == nil || !strings.Contains(err.Error(), "organisation") {
		t.Errorf("wrong org id: %v", err)
	}
	v, _ = vectorVerifier(t)
	v.TrustAnchors = []string{"directory.example"}
	if rej, _ := IsRejection(func() error { _, err := v.Verify(context.Background(), string(b)); return err }()); rej == nil || rej.Code != ErrInvalidIssuer {
		t.Errorf("untrusted anchor: %v", rej)
	}
}

// TestIatWindow: a token issued in the future (beyond the skew) or older than MaxAge is refused.
func TestIatWindow(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "02-valid-ps256-minimal-consent-authorization-revoked.jwt"))
	v, _ := vectorVerifier(t)
	v.Now = func() time.Time { return time.Unix(1767225605-3600, 0) }
	if rej, _ := IsRejection(func() error { _, err := v.Verify(context.Background(), string(b)); return err }()); rej == nil || !strings.Contains(rej.Description, "future") {
		t.Errorf("future iat: %v", rej)
	}
	v, _ = vectorVerifier(t)
	v.MaxAge = 24 * time.Hour
	if rej, _ := IsRejection(func() error { _, err := v.Verify(context.Background(), string(b)); return err }()); rej == nil || !strings.Contains(rej.Description, "older") {
		t.Errorf("old iat: %v", rej)
	}
}

// TestSubjectOfFirstEvent: without a resource-update, rid and rty come from the first event
// (in the token's order) that has a subject.
func TestSubjectOfFirstEvent(t *testing.T) {
	var set SET
	payload := `{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{
		"urn:x:zz":{"subject":{"http://openbanking.org.uk/rid":"first","http://openbanking.org.uk/rty":"t1"}},
		"urn:x:aa":{"subject":{"http://openbanking.org.uk/rid":"second","http://openbanking.org.uk/rty":"t2"}}}}`
	if rej := decodeClaims([]byte(payload), &set); rej != nil {
		t.Fatal(rej)
	}
	if set.RID != "first" || set.RTY != "t1" {
		t.Fatalf("rid %q rty %q", set.RID, set.RTY)
	}
	payload = strings.Replace(payload, `"urn:x:aa"`, `"`+TypeResourceUpdate+`"`, 1)
	set = SET{}
	if rej := decodeClaims([]byte(payload), &set); rej != nil || set.RID != "second" {
		t.Fatalf("resource-update first: %q %v", set.RID, rej)
	}
}

// TestTypAndCty: explicit typing is honoured; an access token or a nested JWT is refused.
func TestTypAndCty(t *testing.T) {
	v, _ := vectorVerifier(t)
	v.Keys = StaticKeys{"k": {KID: "k", Key: testRSA.Public()}}
	for _, c := range []struct {
		hdr  map[string]any
		want string // "" for valid
	}{
		{map[string]any{"typ": "JOSE"}, ""},
		{map[string]any{"typ": "secevent+jwt"}, ""},
		{map[string]any{"typ": "application/secevent+jwt"}, ""},
		{map[string]any{"typ": "JWT"}, ""},
		{map[string]any{"typ": "at+jwt"}, ErrInvalidRequest},
		{map[string]any{"cty": "JWT"}, ErrInvalidRequest},
		{map[string]any{"cty": "json"}, ""},
	} {
		tok := signTest(t, c.hdr)
		_, err := v.Verify(context.Background(), tok)
		rej, _ := IsRejection(err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.hdr, err)
		case c.want != "" && (rej == nil || rej.Code != c.want):
			t.Errorf("%v: got %v, want %s", c.hdr, err, c.want)
		}
	}
}

var testRSA, _ = rsa.GenerateKey(rand.Reader, 2048)

// signTest signs a valid event for the vector verifier with extra header fields.
func signTest(t *testing.T, extra map[string]any) string {
	t.Helper()
	claims := `{"iss":"https://aspsp.example.com/","iat":1767225605,"jti":"j-1","aud":"tpp-client-6f1c2b","toe":1767225600,` +
		`"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/rid":"r","http://openbanking.org.uk/rty":"t"}}}}`
	hdr := jws.NewHeaders()
	_ = hdr.Set("kid", "k")
	for k, v := range extra {
		_ = hdr.Set(k, v)
	}
	tok, err := jws.Sign([]byte(claims), jws.WithKey(jwa.PS256(), testRSA, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// TestDuplicateHeaderNames: a header naming alg (or anything) twice is refused.
func TestDuplicateHeaderNames(t *testing.T) {
	v, _ := vectorVerifier(t)
	b, _ := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "02-valid-ps256-minimal-consent-authorization-revoked.jwt"))
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	hdr := `{"alg":"none","alg":"PS256","kid":"` + rsaKID + `"}`
	tok := base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + parts[1] + "." + parts[2]
	_, err := v.Verify(context.Background(), tok)
	if rej, ok := IsRejection(err); !ok || rej.Code != ErrInvalidRequest || !strings.Contains(rej.Description, "twice") {
		t.Fatalf("got %v", err)
	}
}
