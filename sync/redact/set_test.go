package redact_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"custody/sync/redact"
	"custody/sync/redact/redacttest"
)

// A Set remembers the tokens of one run, from any goroutine, once each, skipping what is too
// short to be a secret; a context without one remembers nothing, and Ensure adds one.
func TestSetInContext(t *testing.T) {
	if redact.SetOf(context.Background()) != nil || redact.Secrets(context.Background(), "x") == nil {
		t.Fatal("a bare context has a set, or Secrets drops what it is given")
	}
	redact.Remember(context.Background(), "a-token-with-no-set") // no panic, nothing kept
	ctx, set := redact.Ensure(context.Background())
	if again, same := redact.Ensure(ctx); again != ctx || same != set {
		t.Fatal("Ensure replaced the set a context had")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { redact.Remember(ctx, fmt.Sprintf("token-number-%d", i%4), "short", "") })
	}
	wg.Wait()
	got := redact.Secrets(ctx, "client-secret")
	if len(got) != 5 || got[4] != "client-secret" {
		t.Fatalf("Secrets = %q, want 4 tokens and the secret", got)
	}
	for i := range 300 {
		set.Add(fmt.Sprintf("token-number-%03d", i))
	}
	if n := len(set.Values()); n != 256 || !strings.Contains(strings.Join(set.Values(), " "), "token-number-299") {
		t.Fatalf("a full set holds %d values, or dropped the newest", n)
	}
}

// Every echo of a token the drivers' tests use is redacted by String, by the encoding-blind
// check of redacttest, and a token that a servers's slash-escaping JSON quotes too.
func TestStringRedactsEveryEcho(t *testing.T) {
	for _, tok := range []string{"sim-at-0123456789abcdef0123", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "a+b/c=d/e+f/g=h/0123456789"} {
		for _, echo := range redacttest.Echoes {
			out := redact.String(echo.Body(tok), tok)
			if leaks := redacttest.Leaks(out, tok); leaks != nil || !strings.Contains(out, redact.Mark) {
				t.Errorf("%s of %s: %q leaks %v", echo.Name, tok, out, leaks)
			}
		}
	}
}

// A window on a long answer that cuts a secret drops the part it holds, which String could
// not recognise; without secrets nothing is dropped.
func TestSnippetDropsACutSecret(t *testing.T) {
	tok := "tok-" + strings.Repeat("0123456789", 10)
	// The window is 4×100 bytes; blanks fold to one, so the part of the token it holds would
	// show.
	for pad := 300; pad < 400; pad++ {
		body := []byte("refused" + strings.Repeat(" ", pad) + tok + strings.Repeat(" tail", 200))
		s := redact.Snippet(body, 100, tok)
		if strings.Contains(s, "tok-") || !strings.HasPrefix(s, "refused") || !strings.HasSuffix(s, "…") {
			t.Fatalf("pad %d: %q", pad, s)
		}
	}
	if s := redact.Snippet([]byte("refused"+strings.Repeat(" ", 350)+tok), 100); !strings.Contains(s, "tok-0123") {
		t.Fatalf("without secrets the window was cut: %q", s)
	}
}
