package datahub_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"custody/sync/auth"
	"custody/sync/datahub"
	"custody/sync/datahub/datahubtest"
	"custody/sync/syncerr"
)

// Issue 16 item 1, through the driver: a token URL that answers 307 to another origin does not
// get DataHub's form-posted client secret re-sent there; the sync fails naming the redirect.
func TestTokenRedirectDoesNotCarryTheSecret(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	var stolen atomic.Int32
	var stolenBody atomic.Value
	thief := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		stolenBody.Store(string(b))
		stolen.Add(1)
		io.WriteString(w, `{"access_token":"x","token_type":"Bearer","expires_in":3600}`)
	}))
	defer thief.Close()
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, thief.URL+"/oauth2/v2.0/token", http.StatusTemporaryRedirect)
	}))
	redirector.TLS = thief.TLS
	redirector.StartTLS()
	defer redirector.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: thief.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r.job.Source.Config["ca"] = ca
	r.job.Source.Config["token_url"] = redirector.URL + "/tenant/oauth2/v2.0/token"
	secret, _ := r.job.Secrets.Secret("dh", "client_secret")

	_, err := r.drv.Sync(context.Background(), r.job)
	if stolen.Load() != 0 {
		t.Fatalf("the token request followed the redirect: %q", stolenBody.Load())
	}
	var re *auth.RedirectError
	if !errors.As(err, &re) || re.Status != http.StatusTemporaryRedirect {
		t.Fatalf("err = %v, want the refused 307", err)
	}
	want, _ := auth.Origin(thief.URL)
	if msg := err.Error(); !strings.Contains(msg, "307") || !strings.Contains(msg, want) ||
		strings.Contains(msg, secret) || strings.Contains(msg, url.QueryEscape(secret)) {
		t.Fatalf("error %q", msg)
	}
	if syncerr.KindOf(err) != syncerr.Config {
		t.Errorf("kind %q", syncerr.KindOf(err))
	}
}

// Issue 16 item 9: an error keeps at most 512 bytes of DataHub's answer, on one line, without
// control bytes.
func TestAPIErrorIsBounded(t *testing.T) {
	body := `{"error":{"code":"E\u001b]0;x\u0007","message":"` + strings.Repeat("long ", 50000) + `","details":[` +
		strings.Repeat(`{"code":"D","message":"more"},`, 2000) + `{"code":"D","message":"end"}]}}`
	e := datahub.ParseAPIError(400, []byte(body))
	msg := e.Error()
	if len(msg) > 512+len("…") || strings.ContainsAny(msg, "\x1b\x07\n") || !strings.HasPrefix(msg, "HTTP 400 E]0;x: long long") {
		t.Fatalf("error of %d bytes: %q…", len(msg), msg[:min(80, len(msg))])
	}
}
