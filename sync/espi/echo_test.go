package espi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/internal/testkit"
	"custody/sync/redact"
	"custody/sync/redact/redacttest"
)

// A custodian that quotes the bearer token it received in its error answer, in any of the
// ways servers do, gets it quoted nowhere: not in the error returned, the status the UI shows,
// the sync run in the database or the log; the error still says the status and the resource.
func TestEchoedTokenIsRedacted(t *testing.T) {
	for _, echo := range redacttest.Echoes {
		for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusInternalServerError} {
			t.Run(echo.Name+"/"+http.StatusText(status), func(t *testing.T) {
				r := newRig(t, espitest.Options{Days: 1})
				var mu sync.Mutex
				var sent []string
				r.sim.InjectEcho(status, func(req *http.Request) string {
					tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
					mu.Lock()
					sent = append(sent, tok)
					mu.Unlock()
					return echo.Body(tok)
				})
				seen := testkit.SyncByEngine(t, r.st, r.drv, r.secrets, r.src.Name)
				if seen.Err == nil {
					t.Fatal("the sync succeeded against an error answer")
				}
				mu.Lock()
				defer mu.Unlock()
				if len(sent) != 1 {
					t.Fatalf("the custodian echoed %d tokens, want 1", len(sent))
				}
				testkit.NoLeak(t, seen, append(sent, r.sim.Secret())...)
				msg := seen.Err.Error()
				if !strings.Contains(msg, fmt.Sprintf("HTTP %d", status)) || !strings.Contains(msg, "Batch/Bulk/"+r.sim.BulkID()) ||
					!strings.Contains(msg, redact.Mark) || seen.RunError != msg || seen.Status.LastError != msg {
					t.Errorf("the error does not say what and where, or differs where shown:\nerr %q\nrun %q\nstatus %q", msg, seen.RunError, seen.Status.LastError)
				}
			})
		}
	}
}

// A token endpoint that quotes the customer's refresh token it refuses, in its
// error_description and in any of the ways servers do, gets it quoted nowhere, nor the
// customer's access tokens; the error says what failed and what to do.
func TestEchoedRefreshTokenIsRedacted(t *testing.T) {
	for _, echo := range redacttest.Echoes {
		t.Run(echo.Name, func(t *testing.T) {
			r := newCMDRig(t, espitest.Options{RotateRefresh: true})
			r.connect(t)
			refresh := r.key("refresh_token")
			r.sim.ExpireCustomerToken()
			r.sim.InjectTokenEcho("refresh_token", http.StatusBadRequest, func(req *http.Request) string {
				b, _ := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": echo.Body(req.PostForm.Get("refresh_token"))})
				return string(b)
			})
			seen := testkit.SyncByEngine(t, r.st, r.drv, r.keys, "pge")
			if seen.Err == nil || !strings.Contains(seen.Err.Error(), "invalid_grant") || !strings.Contains(seen.Err.Error(), "refresh the customer's token") {
				t.Fatalf("sync against a refused refresh: %v", seen.Err)
			}
			testkit.NoLeak(t, seen, append(append(r.sim.IssuedTokens(), refresh, r.sim.Secret()), r.sim.RefreshTokens()...)...)
		})
	}
}

// A notified URI whose fetch the custodian answers by echoing the token: neither the
// notified URI's record in the database nor the listener's log holds it.
func TestEchoedTokenOfANotifiedFetchIsRedacted(t *testing.T) {
	for _, echo := range redacttest.Echoes {
		t.Run(echo.Name, func(t *testing.T) {
			r := newRig(t, espitest.Options{Days: 1})
			n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge",
				Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			srv, c := listener(t, r, n)
			var mu sync.Mutex
			var sent []string
			r.sim.InjectEcho(http.StatusBadRequest, func(req *http.Request) string {
				tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
				mu.Lock()
				sent = append(sent, tok)
				mu.Unlock()
				return echo.Body(tok)
			})
			uri := r.sim.BaseURL() + "/Batch/Bulk/" + r.sim.BulkID()
			resp, err := c.Post(srv.URL+"/espi/notify/pge", "application/xml", bytes.NewReader(espitest.BatchList(uri)))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("POST: %v %v", resp, err)
			}
			resp.Body.Close()
			n.Wait()
			notified, err := r.st.Notified(context.Background(), r.src.ID, "")
			if err != nil || len(notified) != 1 || notified[0].Error == "" {
				t.Fatalf("notified %+v, %v", notified, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 1 {
				t.Fatalf("%d tokens echoed", len(sent))
			}
			text := notified[0].Error + "\n" + r.logs.String()
			if leaks := redacttest.Leaks(text, sent[0]); leaks != nil || !strings.Contains(notified[0].Error, "HTTP 400") {
				t.Fatalf("the token is seen (%v), or the error is not said:\n%s", leaks, text)
			}
		})
	}
}
