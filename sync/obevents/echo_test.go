package obevents

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"custody/sync/internal/testkit"
	"custody/sync/obevents/obtest"
	"custody/sync/redact/redacttest"
)

// A bank that quotes what it received in an error answer — the bearer token at the events
// API, the client assertion or the secret at the token endpoint — in any of the ways servers
// do, gets none of it quoted: not in the error, the status the UI shows, the sync run in the
// database or the log; the error still says the status and the call.
func TestEchoedTokenIsRedacted(t *testing.T) {
	bearer := func(r *http.Request) string { return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") }
	assertion := func(r *http.Request) string { r.ParseForm(); return r.PostForm.Get("client_assertion") }
	cases := []struct {
		name, path, tokenAuth string
		presented             func(r *http.Request) string
		where                 string
	}{
		{"events bearer", "/events", "", bearer, "POST /events"},
		{"token client assertion", "/token", TokenAuthJWT, assertion, "token"},
	}
	for _, c := range cases {
		for _, echo := range redacttest.Echoes {
			for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
				t.Run(fmt.Sprintf("%s/%s/%d", c.name, echo.Name, status), func(t *testing.T) {
					var r *rig
					if c.tokenAuth != "" {
						r = newFAPIRig(t, obtest.Options{}, c.tokenAuth)
					} else {
						r = newRig(t, obtest.Options{})
					}
					if err := r.st.UpdateSource(context.Background(), &r.job.Source); err != nil {
						t.Fatal(err)
					}
					var mu sync.Mutex
					var sent []string
					r.sim.InjectFault(c.path, obtest.Fault{Status: status, Echo: func(req *http.Request) string {
						v := c.presented(req)
						mu.Lock()
						sent = append(sent, v)
						mu.Unlock()
						return echo.Body(v)
					}})
					seen := testkit.SyncByEngine(t, r.st, NewDriver(), r.job.Secrets, r.src.Name)
					if seen.Err == nil {
						t.Fatal("the sync succeeded against an error answer")
					}
					mu.Lock()
					defer mu.Unlock()
					if len(sent) != 1 || len(sent[0]) < 20 {
						t.Fatalf("the bank echoed %q, want one token", sent)
					}
					testkit.NoLeak(t, seen, append(sent, r.sim.Options().ClientSecret)...)
					msg := seen.Err.Error()
					// (A quote may be cut before the token: a client assertion is long.)
					if !strings.Contains(msg, fmt.Sprint(status)) || !strings.Contains(msg, c.where) ||
						seen.RunError != msg || seen.Status.LastError != msg {
						t.Errorf("the error does not say what and where, or differs where shown:\nerr %q\nrun %q\nstatus %q", msg, seen.RunError, seen.Status.LastError)
					}
				})
			}
		}
	}
}
