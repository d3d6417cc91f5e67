package secevent

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// claimsBothWays decodes payload with the one-pass reading and with encoding/json alone.
func claimsBothWays(payload []byte) (fast, slow SET, fastRej, slowRej *Rejection) {
	fastRej = decodeClaims(payload, &fast)
	onePass = false
	defer func() { onePass = true }()
	slowRej = decodeClaims(payload, &slow)
	return fast, slow, fastRej, slowRej
}

// sameClaims fails t when the two readings of payload differ in anything.
func sameClaims(t *testing.T, name string, payload []byte) {
	t.Helper()
	fast, slow, fastRej, slowRej := claimsBothWays(payload)
	if !reflect.DeepEqual(fastRej, slowRej) {
		t.Fatalf("%s: rejection %v, encoding/json alone %v\n%s", name, fastRej, slowRej, payload)
	}
	// Events hold raw values: compare them as text (nil and empty alike).
	for k, v := range fast.Events {
		if string(v) != string(slow.Events[k]) {
			t.Fatalf("%s: event %s is %s, encoding/json alone %s", name, k, v, slow.Events[k])
		}
	}
	if len(fast.Events) != len(slow.Events) || string(fast.Subject) != string(slow.Subject) {
		t.Fatalf("%s: %d events, subject %s; encoding/json alone %d, %s", name, len(fast.Events), fast.Subject, len(slow.Events), slow.Subject)
	}
	fast.Events, slow.Events, fast.Subject, slow.Subject = nil, nil, nil, nil
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s: one pass %+v\nencoding/json alone %+v\n%s", name, fast, slow, payload)
	}
}

// claimsCases are payloads where the one-pass reading must take care or give up: names in
// another case or escaped, names given twice, a subject or rlk of the wrong type, white space.
var claimsCases = []string{
	`{"iss":"https://bank/","iat":1767225600,"jti":"j1","aud":"tpp","toe":1767225500,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"subject_type":"x","http://openbanking.org.uk/rid":"r1","http://openbanking.org.uk/rty":"domestic-payment","http://openbanking.org.uk/rlk":[{"version":"v3.1","link":"https://bank/p/r1"},{"version":"v4.0","link":"https://bank/v4/p/r1"}]}}}}`,
	" \n{ \"iss\" : \"i\" , \"iat\" : 1 , \"jti\" : \"j\" , \"aud\" : [ \"a\" , \"b\" ] , \"toe\" : 1 , \"events\" : { \"e1\" : { \"subject\" : { \"http://openbanking.org.uk/rid\" : \"r\" } } , \"e2\" : { } } } \t",
	`{"ISS":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"e":{}}}`,
	`{"iſs":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"e":{}}}`,
	`{"\u0069ss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"e":{}}}`,
	`{"iss":"i","iss":"k","iat":1,"jti":"j","aud":"a","toe":1,"events":{"e":{}}}`,
	`{"iss":"i","iat":1,"jti":"j\"q","aud":"a","toe":1,"txn":null,"events":{"e":{}}}`,
	`{"iss":"i","iat":1.5,"jti":"j","aud":7,"toe":"1","events":{"e":{}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"b":{"subject":{"http://openbanking.org.uk/rid":"rb"}},"a":{"subject":{"http://openbanking.org.uk/rid":"ra"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"a":{"subject":1},"b":{"Subject":{"http://openbanking.org.uk/rid":"rb"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"a":{"subject":{}},"a":{"subject":{"http://openbanking.org.uk/rid":"r2"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"a\u0062":{"subject":{"http://openbanking.org.uk/rid":"r"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/rid":{"x":1},"http://openbanking.org.uk/rty":"t\u00e9"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/rid":"r","http://openbanking.org.uk/rlk":{"version":"v"}}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/rid":"r","http://openbanking.org.uk/rlk":[null,{"Version":"v","link":7}]}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/rid":"r","http://openbanking.org.uk/rlk":[{"version":null,"link":"l\/x"}],"http://openbanking.org.uk/rlk":null}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":{"subject":{"http://openbanking.org.uk/RID":"r"}}}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{"urn:uk:org:openbanking:events:resource-update":null,"x":[]}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":{}}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1,"events":[]}`,
	`{"iss":"i","iat":1,"jti":"j","aud":"a","toe":1}`,
	`{"iss":"i"`,
	`{"iss":"i"}{}`,
	`[]`,
	`null`,
	``,
	`{}`,
}

// TestClaimsFastMatchesSlow: the one-pass reading of the claims gives what encoding/json
// alone gives (SET and rejection), for the fixtures' tokens and for the cases it must watch.
func TestClaimsFastMatchesSlow(t *testing.T) {
	for i, c := range claimsCases {
		sameClaims(t, "case "+string(rune('a'+i)), []byte(c))
	}
	n := 0
	for _, dir := range []string{"synthetic", "ob-docs", "rfc"} {
		paths, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(p, ".json") {
				sameClaims(t, p, b)
				n++
			}
			parts := strings.Split(strings.TrimSpace(string(b)), ".")
			if len(parts) != 3 {
				continue
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				continue
			}
			sameClaims(t, p, payload)
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d fixtures compared", n)
	}
}

// FuzzClaimsFastMatchesSlow: for any payload the two readings agree.
func FuzzClaimsFastMatchesSlow(f *testing.F) {
	for _, c := range claimsCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		sameClaims(t, "fuzz", payload)
	})
}

// TestClaimsFastTaken: a usual Open Banking token is read in one pass (not left to
// encoding/json), and an escaped name is left to it.
func TestClaimsFastTaken(t *testing.T) {
	var rc rawClaims
	if !claimsFast([]byte(claimsCases[0]), &rc) {
		t.Fatal("the usual claims were left to encoding/json")
	}
	events, order, ok := eventsFast(rc.Events)
	if !ok || len(order) != 1 {
		t.Fatalf("events: %v %v", order, ok)
	}
	var set SET
	if found, ok := subjectFast(events[order[0]], &set); !found || !ok || set.RID != "r1" || len(set.Links) != 2 || set.Links[1].Version != "v4.0" {
		t.Fatalf("subject: found %v, ok %v, %+v", found, ok, set)
	}
	if claimsFast([]byte(claimsCases[4]), &rc) {
		t.Fatal("an escaped name was read in one pass")
	}
}

// headerCases are token headers where the one-pass reading must take care or give up.
var headerCases = []string{
	`{"alg":"PS256","kid":"k1","typ":"secevent+jwt","http://openbanking.org.uk/iat":1767225600,"http://openbanking.org.uk/iss":"0015800001ZEZ1AAN","http://openbanking.org.uk/tan":"openbanking.org.uk","crit":["http://openbanking.org.uk/iat","http://openbanking.org.uk/iss","http://openbanking.org.uk/tan"]}`,
	` {"alg":"ES256","b64":false,"x":null,"n":-1.5e3,"o":{"a":1,"a":[true,{}]},"e":[]} `,
	`{"alg":"PS256","alg":"none"}`,
	`{"alg":"PS256","\u0061lg":"none"}`,
	`{"alg":"PS\u0032256"}`,
	`{"alg":"PS256"} {"kid":"k"}`,
	`{"alg":"PS256"}]`,
	`{"alg":"PS256"`,
	`[]`,
	`null`,
	`{}`,
	"{\"alg\":\"\xff\"}",
}

// decodeBothWays decodes a header with the one-pass reading and with encoding/json alone.
func decodeBothWays(b []byte) (fast, slow map[string]any, fastErr, slowErr error) {
	fast, fastErr = decodeObject(b)
	onePass = false
	defer func() { onePass = true }()
	slow, slowErr = decodeObject(b)
	return fast, slow, fastErr, slowErr
}

// TestHeaderFastMatchesSlow: a token header read in one pass is what json.Decoder (with
// UseNumber) gives, errors alike; a usual Open Banking header is read in one pass.
func TestHeaderFastMatchesSlow(t *testing.T) {
	for _, c := range headerCases {
		fast, slow, fastErr, slowErr := decodeBothWays([]byte(c))
		if !reflect.DeepEqual(fast, slow) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Errorf("%s: %v (%v); encoding/json alone %v (%v)", c, fast, fastErr, slow, slowErr)
		}
	}
	if _, ok := objectFast([]byte(headerCases[0])); !ok {
		t.Error("a usual header was left to encoding/json")
	}
}

// FuzzHeaderFastMatchesSlow: for any header the two readings agree.
func FuzzHeaderFastMatchesSlow(f *testing.F) {
	for _, c := range headerCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, slow, fastErr, slowErr := decodeBothWays(b)
		if !reflect.DeepEqual(fast, slow) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Fatalf("%q: %v (%v); encoding/json alone %v (%v)", b, fast, fastErr, slow, slowErr)
		}
	})
}
