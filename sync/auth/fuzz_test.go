package auth

import (
	"strings"
	"testing"
)

func FuzzParseTokenAnswer(f *testing.F) {
	for _, s := range []string{
		`{"client_access_token":"a","expires_in":3600}`,
		`{"access_token":"OPAQUE_ACCESS_TOKEN","token_type":"Bearer","expires_in":3600,"scope":"FB=1_3;BR=1"}`,
		`<ns0:token xmlns:ns0="https://api.pge.com/datacustodian/oauth/v2/token"><ns0:client_access_token>t</ns0:client_access_token><ns0:expires_in>3600</ns0:expires_in></ns0:token>`,
		`{"error":"invalid_client","error_description":"Bad client credentials"}`,
		`Invalid Certificate`,
		``,
	} {
		f.Add("application/json", []byte(s))
		f.Add("application/xml", []byte(s))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		fields, err := parseTokenAnswer(contentType, body)
		if err == nil && fields == nil {
			t.Fatal("nil fields without an error")
		}
		for k, v := range fields {
			if strings.TrimSpace(v) != v && strings.HasPrefix(string(body), "<") {
				t.Fatalf("field %s = %q not trimmed", k, v)
			}
		}
	})
}
