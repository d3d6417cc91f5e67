package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"

	"custody/sync/redact"
	"custody/sync/syncerr"
)

// mapSecrets is a keyring in a map, keyed by "source/field".
type mapSecrets map[string]string

func (m mapSecrets) Secret(source, field string) (string, error) {
	v, ok := m[source+"/"+field]
	if !ok {
		return "", fmt.Errorf("no %s for %s", field, source)
	}
	return v, nil
}

// echoTest is a driver whose Test echoes the secret, as a careless driver might.
type echoTest struct{ *fakeDriver }

func (d echoTest) Test(ctx context.Context, job *Job) (string, error) {
	sec, _ := job.Secrets.Secret(job.Source.Name, "client_secret")
	return "answered for " + sec, errors.New("echo: " + url.QueryEscape(sec))
}

// Issue 16 item 9: a driver whose error (or log line) echoes the client secret URL-encoded or
// as base64 Basic credentials does not get it into sync_runs.error, the status, the returned
// error or the log.
func TestSecretsRedactedFromRunsAndLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const secret = "Qx7+sec/ret=value&more"
		basic := base64.StdEncoding.EncodeToString([]byte("client-1:" + secret))
		st := mustStore(t)
		addSource(t, st, "dh", "datahub", nil)
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			sec, err := job.Secrets.Secret(job.Source.Name, "client_secret")
			if err != nil {
				return Result{}, err
			}
			job.Logger.Warn("token endpoint echoed Basic "+basic, "op", "token", "err", fmt.Errorf("body: client_secret=%s", url.QueryEscape(sec)))
			return Result{}, syncerr.Errorf(syncerr.Auth, "token", "the server said: client_secret=%s; Authorization: Basic %s", url.QueryEscape(sec), basic)
		})
		rec := &logRecorder{}
		e := New(Config{Store: st, Drivers: map[string]Driver{"datahub": echoTest{d}}, Logger: slog.New(rec), Jitter: noJitter, StartDelay: -1,
			Secrets: mapSecrets{"dh/client_secret": secret}})
		_, err := e.SyncOnce(t.Context(), "dh")
		if err == nil || syncerr.KindOf(err) != syncerr.Auth {
			t.Fatalf("SyncOnce = %v (kind %q), want the driver's auth failure", err, syncerr.KindOf(err))
		}
		runs, _ := st.Runs(t.Context(), 0, 10)
		if len(runs) != 1 {
			t.Fatalf("runs %+v", runs)
		}
		var logged []string
		rec.mu.Lock()
		for _, r := range rec.records {
			logged = append(logged, r.Message)
			r.Attrs(func(a slog.Attr) bool { logged = append(logged, a.Value.String()); return true })
		}
		rec.mu.Unlock()
		places := map[string]string{
			"returned error": err.Error(), "sync_runs.error": runs[0].Error,
			"status": statusOf(t, e, "dh").LastError, "log": strings.Join(logged, "\n"),
		}
		for where, text := range places {
			for _, leak := range []string{secret, url.QueryEscape(secret), basic, "Qx7"} {
				if strings.Contains(text, leak) {
					t.Errorf("%s holds the secret (%q): %q", where, leak, text)
				}
			}
			if where != "log" && !strings.Contains(text, "client_secret=[redacted]") {
				t.Errorf("%s = %q, want the secret's place marked", where, text)
			}
		}
		if !strings.Contains(places["log"], "echoed Basic [redacted]") {
			t.Errorf("log = %q", places["log"])
		}
		// The source test ("Test connection") reports through the same redaction.
		msg, err := e.Test(t.Context(), "dh")
		if strings.Contains(msg+fmt.Sprint(err), "Qx7") || !strings.Contains(msg, "[redacted]") {
			t.Errorf("Test = %q, %v", msg, err)
		}
	})
}

// writableSecrets is a mapSecrets that can be written, as the app's keyring can.
type writableSecrets struct{ mapSecrets }

func (w writableSecrets) SetSecret(source, field, value string) error {
	w.mapSecrets[source+"/"+field] = value
	return nil
}

// A token a driver renews during a sync (a custodian's rotated refresh token) reaches the
// keyring through the engine, and is redacted like the secrets the driver read.
func TestRenewedSecretsReachTheKeyringAndAreRedacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const renewed = "rotated-refresh-token-0123456789"
		st := mustStore(t)
		addSource(t, st, "gb", "greenbutton", nil)
		d := newFake("greenbutton", func(ctx context.Context, job *Job, n int) (Result, error) {
			w, ok := job.Secrets.(interface {
				SetSecret(source, field, value string) error
			})
			if !ok {
				return Result{}, errors.New("the job's secrets cannot be written")
			}
			if err := w.SetSecret(job.Source.Name, "refresh_token", renewed); err != nil {
				return Result{}, err
			}
			return Result{}, syncerr.Errorf(syncerr.Auth, "token", "the server echoed %s", renewed)
		})
		keys := writableSecrets{mapSecrets{}}
		e := New(Config{Store: st, Drivers: map[string]Driver{"greenbutton": d}, Logger: slog.New(slog.DiscardHandler), Jitter: noJitter, StartDelay: -1,
			Secrets: keys})
		_, err := e.SyncOnce(t.Context(), "gb")
		if keys.mapSecrets["gb/refresh_token"] != renewed {
			t.Fatalf("the renewed token did not reach the keyring: %v", keys.mapSecrets)
		}
		if err == nil || strings.Contains(err.Error(), renewed) {
			t.Fatalf("error %v holds the renewed token", err)
		}
		// A keyring that cannot be written says so.
		e2 := New(Config{Store: st, Drivers: map[string]Driver{"greenbutton": d}, Logger: slog.New(slog.DiscardHandler), Jitter: noJitter, StartDelay: -1,
			Secrets: mapSecrets{}})
		if _, err := e2.SyncOnce(t.Context(), "gb"); err == nil || !strings.Contains(err.Error(), "cannot be written") {
			t.Fatalf("read-only keyring: %v", err)
		}
	})
}

// A token a driver only holds in memory (an access token it received, remembered with
// redact.Remember) is redacted like a keyring secret from the error, the sync run, the status,
// the progress shown, the result's note and the log; and engine.Guard gives a caller outside
// the engine (the command line's test) the same.
func TestRememberedTokensRedacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const token = "eyJhbGciOiJSUzI1NiJ9.access-token-in-memory"
		enc := url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(token)))
		st := mustStore(t)
		addSource(t, st, "ob", "obevents", nil)
		var progress []string
		d := newFake("obevents", func(ctx context.Context, job *Job, n int) (Result, error) {
			redact.Remember(ctx, token)
			job.Progress(Progress{Message: "waiting: the bank said " + token})
			synctest.Wait() // the subscriber sees the progress
			job.Logger.Info("answer", "err", errors.New("echo "+base64.StdEncoding.EncodeToString([]byte(token))))
			if n == 1 {
				return Result{Note: "kept " + token}, nil
			}
			return Result{}, syncerr.Errorf(syncerr.Server, "GET /events", "HTTP 500 (%s)", enc)
		})
		rec := &logRecorder{}
		e := New(Config{Store: st, Drivers: map[string]Driver{"obevents": d}, Logger: slog.New(rec), Jitter: noJitter, StartDelay: -1,
			Secrets: mapSecrets{}})
		updates, stop := e.Subscribe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for s := range updates {
				progress = append(progress, s.Progress.Message)
			}
		}()
		res, err := e.SyncOnce(t.Context(), "ob")
		if err != nil || res.Note != "kept [redacted]" {
			t.Fatalf("first sync: %v, note %q", err, res.Note)
		}
		_, err = e.SyncOnce(t.Context(), "ob")
		synctest.Wait()
		stop()
		<-done
		runs, _ := st.Runs(t.Context(), 0, 10)
		var logged []string
		rec.mu.Lock()
		for _, r := range rec.records {
			r.Attrs(func(a slog.Attr) bool { logged = append(logged, a.Value.String()); return true })
		}
		rec.mu.Unlock()
		text := strings.Join(append(append(logged, progress...), fmt.Sprint(err), runs[0].Error, statusOf(t, e, "ob").LastError), "\n")
		if strings.Contains(text, "access-token") || strings.Contains(text, enc) || strings.Contains(text, "eyJhbGciOiJSUzI1NiJ9.") {
			t.Fatalf("the token is seen:\n%s", text)
		}
		if !strings.Contains(fmt.Sprint(err), "HTTP 500 ([redacted]") || !strings.Contains(strings.Join(progress, "\n"), "the bank said [redacted]") {
			t.Fatalf("the token's place is not marked:\n%s", text)
		}

		// Outside the engine.
		src, _ := st.SourceByName(t.Context(), "ob")
		ctx, job, finish := Guard(t.Context(), &Job{Source: src, Store: st, Secrets: mapSecrets{}, Logger: slog.New(rec), Progress: func(Progress) {}})
		finish(d.Test(ctx, job))
		if redact.SetOf(ctx) == nil {
			t.Fatal("Guard's context carries no set")
		}
		redact.Remember(ctx, token)
		msg, gerr := finish("token "+token, errors.New("echo "+token))
		if msg != "token [redacted]" || gerr.Error() != "echo [redacted]" {
			t.Fatalf("Guard: %q, %v", msg, gerr)
		}
	})
}
