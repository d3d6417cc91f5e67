// Package redact removes secrets from text before it reaches an error, a log line or the
// database, in every encoding the sync packages send a secret in: as it is, URL-encoded (a
// form body or a query), JSON- or XML-escaped, and base64 (HTTP Basic of "id:secret", with the
// id and secret URL-encoded first or not). It also bounds what an error keeps of a server's
// answer.
//
// A server that echoes what it was sent is the usual way a secret ends up in an error: its
// answer is quoted to explain the failure. Every package that quotes a server runs the quote
// through [Snippet] and the secrets it sent through [String]; the engine redacts every secret a
// driver read from the keyring out of the error it records, as a last line of defence.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mark replaces a secret.
const Mark = "[redacted]"

// minSecret is the shortest value treated as a secret: shorter ones would redact ordinary
// words from Custody's own messages (and are not client secrets worth the name: custodians
// issue secrets of 20 characters and more).
const minSecret = 8

// forms returns the encodings of secret that text may hold, longest first.
func forms(secret string) []string {
	if len(secret) < minSecret {
		return nil
	}
	set := map[string]bool{secret: true}
	set[url.QueryEscape(secret)] = true
	set[url.PathEscape(secret)] = true
	set[strings.ReplaceAll(url.QueryEscape(secret), "+", "%20")] = true
	if b, err := json.Marshal(secret); err == nil {
		j := string(b[1 : len(b)-1])
		set[j] = true
		// Servers other than Go's escape the slash, and not <, > and &.
		set[strings.ReplaceAll(j, "/", `\/`)] = true
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		if enc.Encode(secret) == nil {
			q := strings.TrimSpace(plain.String())
			set[q[1:len(q)-1]] = true
			set[strings.ReplaceAll(q[1:len(q)-1], "/", `\/`)] = true
		}
	}
	set[html.EscapeString(secret)] = true
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		set[enc.EncodeToString([]byte(secret))] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	// Longest first, so that an encoding is not half-replaced by a shorter one it contains.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// String returns s with every secret, in every encoding it may have been sent in, replaced by
// [Mark]. Base64 runs in s that decode to text holding a secret (such as the HTTP Basic
// credentials "id:secret", whatever the id) are replaced whole. Secrets shorter than eight
// bytes are left alone.
func String(s string, secrets ...string) string {
	var live []string
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			live = append(live, sec)
		}
	}
	if len(live) == 0 || s == "" {
		return s
	}
	// Whole base64 runs first: replacing the secret's own base64 inside "id:secret" would
	// leave the id's part of the run behind.
	s = redactBase64(s, live)
	for _, sec := range live {
		for _, f := range forms(sec) {
			s = strings.ReplaceAll(s, f, Mark)
		}
	}
	return s
}

// redactBase64 replaces the base64 runs of s whose decoding holds a secret in any of its forms.
func redactBase64(s string, secrets []string) string {
	isB64 := func(r byte) bool {
		return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '-' || r == '_' || r == '='
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		if !isB64(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isB64(s[j]) {
			j++
		}
		run := s[i:j]
		if len(run) >= 8 && decodedHolds(run, secrets) {
			b.WriteString(Mark)
			changed = true
		} else {
			b.WriteString(run)
		}
		i = j
	}
	if !changed {
		return s
	}
	return b.String()
}

func decodedHolds(run string, secrets []string) bool {
	trimmed := strings.TrimRight(run, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		// Try every start offset mod 4, so that a run glued to other base64 text is found too.
		for off := 0; off < 4 && off < len(trimmed); off++ {
			part := trimmed[off:]
			if len(part)%4 == 1 {
				part = part[:len(part)-1]
			}
			dec, err := enc.DecodeString(part)
			if err != nil {
				continue
			}
			for _, sec := range secrets {
				for _, f := range []string{sec, url.QueryEscape(sec)} {
					if bytes.Contains(dec, []byte(f)) {
						return true
					}
				}
			}
		}
	}
	return false
}

// dropCutSecret drops from the end of a window on a longer text the bytes that could be the
// start of a secret the window cut (which would not be recognised as one): the trailing run
// of token characters, up to the length of the longest encoding of a secret (with room for
// the client id of HTTP Basic credentials).
func dropCutSecret(look []byte, secrets []string) []byte {
	longest := 0
	for _, sec := range secrets {
		for _, f := range forms(sec) {
			longest = max(longest, 2*len(f)+16)
		}
	}
	for n := 0; n < longest && len(look) > 0; n++ {
		r, size := utf8.DecodeLastRune(look)
		if !isTokenRune(r) {
			break
		}
		look = look[:len(look)-size]
	}
	return look
}

// isTokenRune reports whether r may be part of a token, a secret or one of their encodings.
func isTokenRune(r rune) bool {
	return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-._~+/=%\\", r))
}

// Error is an error whose text has been redacted; it still unwraps to the original, so its
// kind and advice are kept for the code that classifies it.
type Error struct {
	err  error
	text string
}

// Error returns the redacted text.
func (e *Error) Error() string { return e.text }

// Unwrap returns the original error (whose own text is not redacted: never print it).
func (e *Error) Unwrap() error { return e.err }

// Err returns err with the secrets redacted from its text, or err itself when its text holds
// none of them.
func Err(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	red := String(text, secrets...)
	if red == text {
		return err
	}
	var re *Error
	if errors.As(err, &re) && re == err {
		return &Error{err: re.err, text: red}
	}
	return &Error{err: err, text: red}
}

// DefaultSnippet is how much of a server's answer an error keeps.
const DefaultSnippet = 512

// Snippet returns at most max bytes (DefaultSnippet when max <= 0) of a server's answer for an
// error message: on one line, with control and invalid bytes removed (they could drive a
// terminal), cut at a character boundary and marked with "…" when cut, and with the secrets
// redacted.
func Snippet(body []byte, max int, secrets ...string) string {
	if max <= 0 {
		max = DefaultSnippet
	}
	// Look at a little more than max, so that redaction sees a secret that straddles the cut.
	look := body
	if len(look) > 4*max {
		look = look[:4*max]
	}
	truncated := len(look) < len(body)
	if truncated {
		look = dropCutSecret(look, secrets)
	}
	var b strings.Builder
	space := false
	for len(look) > 0 {
		r, n := utf8.DecodeRune(look)
		look = look[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	s := String(b.String(), secrets...)
	if len(s) <= max {
		if truncated {
			return s + "…"
		}
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
