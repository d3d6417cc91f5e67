package eloverblik_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/internal/testkit"
	"custody/sync/redact/redacttest"
)

// Eloverblik quoting the token it received — the refresh token at api/token, the data-access
// token at a data call — in any of the ways servers do gets it quoted nowhere: not in the
// error, the progress and status the UI shows, the sync run in the database or the log. A
// busy answer (503) quoting it is waited out and shown as progress and logged, redacted too.
func TestEchoedTokenIsRedacted(t *testing.T) {
	cases := []struct {
		name   string
		token  bool // at the token call, else at a data call
		status int
		fails  bool
		where  string
	}{
		{"token call refused", true, http.StatusUnauthorized, true, "token"},
		{"token call broken", true, http.StatusInternalServerError, true, "token"},
		{"data call refused", false, http.StatusBadRequest, true, "GET api/meteringpoints"},
		{"data call busy", false, http.StatusServiceUnavailable, false, ""},
	}
	for _, c := range cases {
		for _, echo := range redacttest.Echoes {
			t.Run(c.name+"/"+echo.Name, func(t *testing.T) {
				r := newRig(t, eloverbliktest.Options{RetryAfter: 1}, nil)
				var mu sync.Mutex
				var sent []string
				respond := func(req *http.Request) string {
					tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
					mu.Lock()
					sent = append(sent, tok)
					mu.Unlock()
					return echo.Body(tok)
				}
				echoed := func() []string {
					mu.Lock()
					defer mu.Unlock()
					return slices.Clone(sent)
				}
				r.sim.Inject(eloverbliktest.Fault{Token: c.token, Status: c.status, Echo: respond})
				seen := testkit.SyncByEngine(t, r.st, r.driver(), r.sec, r.src.Name)
				if got := echoed(); len(got) != 1 || len(got[0]) < 40 {
					t.Fatalf("Eloverblik echoed %q, want one token", got)
				}
				testkit.NoLeak(t, seen, append(echoed(), r.sim.DataTokens()...)...)
				testkit.NoLeak(t, seen, r.sec["home/client_secret"])
				if !c.fails {
					if seen.Err != nil {
						t.Fatalf("a busy answer was not waited out: %v", seen.Err)
					}
					if !strings.Contains(seen.Log, "waiting out a busy answer") {
						t.Errorf("the wait was not logged:\n%s", seen.Log)
					}
					// The driver itself, outside the engine, shows the wait without the token.
					r.sim.Inject(eloverbliktest.Fault{Status: c.status, Echo: respond})
					if _, err := r.sync(r.driver()); err != nil {
						t.Fatal(err)
					}
					notes := strings.Join(r.notes, "\n") + r.logs.String()
					if !strings.Contains(notes, "HTTP 503") {
						t.Errorf("the wait is not shown:\n%s", notes)
					}
					for _, tok := range echoed() {
						if leaks := redacttest.Leaks(notes, tok); leaks != nil {
							t.Errorf("the token is shown (%v):\n%s", leaks, notes)
						}
					}
					return
				}
				if seen.Err == nil {
					t.Fatal("the sync succeeded against an error answer")
				}
				msg := seen.Err.Error()
				if !strings.Contains(msg, fmt.Sprintf("HTTP %d", c.status)) || !strings.Contains(msg, c.where) ||
					seen.RunError != msg || seen.Status.LastError != msg {
					t.Errorf("the error does not say what and where, or differs where shown:\nerr %q\nrun %q\nstatus %q", msg, seen.RunError, seen.Status.LastError)
				}
			})
		}
	}
}
