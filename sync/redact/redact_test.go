package redact_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"strings"
	"testing"

	"custody/sync/redact"
)

// The secret has characters each encoding changes: space, +, /, &, =, ", <, é.
const secret = `s3cr+t/&=x "<é>` + "Zz9"

func TestStringEveryEncoding(t *testing.T) {
	js, _ := json.Marshal(secret)
	basic := func(id, sec string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + sec)) }
	cases := map[string]string{
		"raw":                  "invalid_client: " + secret,
		"form":                 "grant_type=client_credentials&client_secret=" + url.QueryEscape(secret) + "&client_id=abc",
		"query %20":            "GET /x?secret=" + strings.ReplaceAll(url.QueryEscape(secret), "+", "%20"),
		"path":                 "/a/" + url.PathEscape(secret) + "/b",
		"json":                 `{"echo":` + string(js) + `}`,
		"xml":                  "<error>" + xmlEscape(secret) + "</error>",
		"basic raw id":         "Authorization: Basic " + basic("client-1", secret),
		"basic escaped id":     "you sent Basic " + basic(url.QueryEscape("client 1"), url.QueryEscape(secret)),
		"basic odd id length":  "hdr=" + basic("ab", secret) + ";",
		"base64 secret alone":  "x " + base64.RawURLEncoding.EncodeToString([]byte(secret)) + " y",
		"basic glued to other": "QUJD" + basic("c", secret),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			out := redact.String(in, secret)
			if !strings.Contains(out, redact.Mark) {
				t.Fatalf("nothing redacted in %q → %q", in, out)
			}
			for _, leak := range []string{secret, url.QueryEscape(secret), "s3cr", "Zz9"} {
				if strings.Contains(out, leak) {
					t.Errorf("%q still holds %q", out, leak)
				}
			}
			for _, f := range []string{basic("client-1", secret), basic("ab", secret)} {
				if strings.Contains(out, f) {
					t.Errorf("%q still holds the Basic credentials", out)
				}
			}
		})
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func TestStringLeavesOtherTextAlone(t *testing.T) {
	in := "HTTP 401 Unauthorized: invalid_client (client authentication failed) aGVsbG8gd29ybGQ="
	if out := redact.String(in, secret, "abc"); out != in {
		t.Errorf("changed %q to %q", in, out)
	}
	if out := redact.String("wrong client id or secret", "wrong"); out != "wrong client id or secret" {
		t.Errorf("a five-byte value was treated as a secret: %q", out)
	}
}

func TestErrKeepsTheChain(t *testing.T) {
	base := errors.New("token: server said " + url.QueryEscape(secret))
	err := redact.Err(base, secret)
	if strings.Contains(err.Error(), "s3cr") || !errors.Is(err, base) {
		t.Fatalf("redact.Err = %q (is base: %v)", err, errors.Is(err, base))
	}
	if redact.Err(errors.New("plain"), secret).Error() != "plain" || redact.Err(nil, secret) != nil {
		t.Error("an error without the secret was changed")
	}
}

func TestSnippet(t *testing.T) {
	body := []byte("line1\r\n\x1b]0;evil\x07 title\x00\xff\xfe and " + secret + strings.Repeat("é", 600))
	s := redact.Snippet(body, 512, secret)
	if len(s) > 512+len("…") {
		t.Errorf("snippet of %d bytes", len(s))
	}
	if strings.ContainsAny(s, "\x1b\x07\x00\r\n\ufffd") || strings.Contains(s, "s3cr") {
		t.Errorf("snippet keeps control bytes or the secret: %q", s)
	}
	if !strings.HasPrefix(s, "line1 ]0;evil title and "+redact.Mark) || !strings.HasSuffix(s, "é…") {
		t.Errorf("snippet = %q", s)
	}
	if got := redact.Snippet([]byte("  short\tanswer "), 0); got != "short answer" {
		t.Errorf("short snippet = %q", got)
	}
	huge := []byte(strings.Repeat("a", 10<<20))
	if got := redact.Snippet(huge, 100); len(got) != 100+len("…") {
		t.Errorf("huge snippet has %d bytes", len(got))
	}
}

func FuzzString(f *testing.F) {
	f.Add("Basic Y2xpZW50OnMzY3IrdA==", "s3cr+t", "client")
	f.Fuzz(func(t *testing.T, text, sec, id string) {
		if len(sec) < 8 || len(text) > 4096 {
			return
		}
		out := redact.String(text+" "+sec+" "+base64.StdEncoding.EncodeToString([]byte(id+":"+sec)), sec)
		if strings.Contains(out, sec) && !strings.Contains(redact.Mark, sec) {
			t.Fatalf("secret %q survived in %q", sec, out)
		}
	})
}
