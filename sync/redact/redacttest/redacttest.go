// Package redacttest helps the tests of the drivers prove that a token a server echoes in an
// error answer reaches no error, log line or status: the ways servers echo one, and a check
// for every encoding of it, written independently of package redact so that a form redact
// forgets is caught.
package redacttest

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// Echo is one way a server quotes a token in an error answer.
type Echo struct {
	Name string
	// Body is the error answer quoting token.
	Body func(token string) string
}

// Echoes are the ways a server is known to quote a token: in its words, as the Authorization
// header it received, as a JSON member, URL-encoded in a query it quotes, in base64 (a
// request dump) and base64url, and JSON-escaped with escaped slashes.
var Echoes = []Echo{
	{"raw", func(t string) string { return "invalid token: " + t + " (expired)" }},
	{"authorization header", func(t string) string {
		return `{"error":"invalid_token","error_description":"rejected Authorization: Bearer ` + t + `"}`
	}},
	{"json member", func(t string) string { return `{"message":"token refused","access_token":` + jsonString(t) + `}` }},
	{"url-encoded", func(t string) string { return "bad request GET /x?access_token=" + url.QueryEscape(t) + "&a=1" }},
	{"base64", func(t string) string {
		return "request dump: " + base64.StdEncoding.EncodeToString([]byte("Authorization: Bearer "+t))
	}},
	{"base64url", func(t string) string { return "ref " + base64.RawURLEncoding.EncodeToString([]byte(t)) + " refused" }},
	{"json escaped slashes", func(t string) string {
		return `{"detail":` + strings.ReplaceAll(jsonString(t), "/", `\/`) + `}`
	}},
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Leaks returns the forms of token that text holds (nil when none): the token itself or a
// part of it of 12 bytes or more, its URL and JSON encodings, and its base64 encodings.
func Leaks(text, token string) []string {
	if token == "" {
		return nil
	}
	var out []string
	forms := map[string]string{
		"raw":           token,
		"query-escaped": url.QueryEscape(token),
		"path-escaped":  url.PathEscape(token),
		"json":          strings.Trim(jsonString(token), `"`),
		"json slashes":  strings.ReplaceAll(strings.Trim(jsonString(token), `"`), "/", `\/`),
		"base64":        base64.StdEncoding.EncodeToString([]byte(token)),
		"base64 raw":    base64.RawStdEncoding.EncodeToString([]byte(token)),
		"base64url":     base64.URLEncoding.EncodeToString([]byte(token)),
		"base64url raw": base64.RawURLEncoding.EncodeToString([]byte(token)),
		"base64 header": base64.StdEncoding.EncodeToString([]byte("Authorization: Bearer " + token)),
	}
	for name, f := range forms {
		if strings.Contains(text, f) {
			out = append(out, name)
		}
	}
	// A part of the token: its middle (a prefix may be a shared, public header).
	if len(token) >= 24 {
		mid := token[len(token)/2-6 : len(token)/2+6]
		if strings.Contains(text, mid) {
			out = append(out, "part")
		}
	}
	return out
}
