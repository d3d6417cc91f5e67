package datahub_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"custody/sync/datahub/datahubtest"
	"custody/sync/internal/testkit"
	"custody/sync/redact"
	"custody/sync/redact/redacttest"
)

// A DataHub gateway that quotes the bearer token it received in its error answer, in any of
// the ways servers do (in the error object's message or as text), gets it quoted nowhere: not
// in the error, the status the UI shows, the sync run in the database or the log; the error
// still says the status and the call.
func TestEchoedTokenIsRedacted(t *testing.T) {
	shapes := map[string]func(string) string{
		"text":         func(s string) string { return s },
		"error object": func(s string) string { return `{"Error":{"Code":"00401","Message":` + quote(s) + `,"Target":"peek"}}` },
	}
	for shape, wrap := range shapes {
		for _, echo := range redacttest.Echoes {
			for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusInternalServerError} {
				t.Run(fmt.Sprintf("%s/%s/%d", shape, echo.Name, status), func(t *testing.T) {
					r := newRig(t, datahubtest.Options{}, "json")
					var mu sync.Mutex
					var sent []string
					r.sim.Inject(datahubtest.Faults{Echoes: []datahubtest.Echo{{Status: status, Body: func(req *http.Request) string {
						tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
						mu.Lock()
						sent = append(sent, tok)
						mu.Unlock()
						return wrap(echo.Body(tok))
					}}}})
					seen := testkit.SyncByEngine(t, r.st, r.drv, r.job.Secrets, r.job.Source.Name)
					if seen.Err == nil {
						t.Fatal("the sync succeeded against an error answer")
					}
					mu.Lock()
					defer mu.Unlock()
					if len(sent) != 1 {
						t.Fatalf("the gateway echoed %d tokens, want 1", len(sent))
					}
					testkit.NoLeak(t, seen, append(sent, r.sim.ClientSecret())...)
					msg := seen.Err.Error()
					// The token is quoted, redacted, unless the answer is a JSON object whose
					// message alone is read.
					quoted := shape == "error object" || echo.Name != "json member"
					if !strings.Contains(msg, fmt.Sprintf("HTTP %d", status)) || !strings.Contains(msg, "peek") ||
						quoted && !strings.Contains(msg, redact.Mark) || seen.RunError != msg || seen.Status.LastError != msg {
						t.Errorf("the error does not say what and where, or differs where shown:\nerr %q\nrun %q\nstatus %q", msg, seen.RunError, seen.Status.LastError)
					}
				})
			}
		}
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
