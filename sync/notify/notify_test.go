package notify

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/store"
	"custody/sync/simtls"
)

func files(t *testing.T) (*simtls.PKI, simtls.Files, string, string) {
	t.Helper()
	pki, err := simtls.New("custodian")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := pki.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(cert, pki.ServerCertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pki.ServerKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return pki, f, cert, key
}

func TestStartAllMountsHandlersAndRequiresClientCerts(t *testing.T) {
	// The drivers register these from their init; this package cannot import them.
	RegisterPath("greenbutton", "/espi/notify/{name}")
	RegisterPath("obevents", "/{name}/event-notifications")
	pki, f, cert, key := files(t)
	mk := func(name, kind string, extra map[string]string) store.Source {
		s := store.Source{Name: name, Kind: kind, Enabled: true, Config: map[string]string{
			CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key, CfgClientCA: f.CA}}
		for k, v := range extra {
			s.Config[k] = v
		}
		return s
	}
	srcs := []store.Source{
		mk("pge", "greenbutton", nil),
		mk("bank", "obevents", nil),
		{Name: "quiet", Kind: "greenbutton", Enabled: true, Config: map[string]string{}},
	}
	got := map[string]string{}
	set, err := StartAll(srcs, func(src store.Source) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got[src.Name] = r.URL.Path + " " + string(b)
		})
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ls := set.Listeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners, want 1 shared", len(ls))
	}
	url := ls[0].URL()
	clientTLS, err := pki.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	for _, p := range []string{"/espi/notify/pge", "/bank/event-notifications"} {
		resp, err := c.Post(url+p, "application/xml", strings.NewReader("hello"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	if got["pge"] != "/espi/notify/pge hello" || got["bank"] != "/bank/event-notifications hello" {
		t.Fatalf("handlers saw %v", got)
	}
	resp, err := c.Get(url + "/espi/notify/pge")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	// Without a client certificate the handshake is refused.
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool()}}}
	if resp, err := anon.Post(url+"/espi/notify/pge", "application/xml", strings.NewReader("x")); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
}

func TestOffByDefaultAndConfigErrors(t *testing.T) {
	_, f, cert, key := files(t)
	set, err := StartAll([]store.Source{{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}},
		func(store.Source) http.Handler { return http.NotFoundHandler() }, nil)
	if err != nil || len(set.Listeners()) != 0 {
		t.Fatalf("listeners without notify_listen: %v %v", set, err)
	}
	tests := []struct {
		name  string
		srcs  []store.Source
		words string
	}{
		{"no-cert", []store.Source{{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0"}}}, "needs notify_cert"},
		{"bad-path", []store.Source{{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key, CfgPath: "x"}}}, "must start with /"},
		{"different-certs", []store.Source{
			{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key}},
			{Name: "b", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key, CfgClientCA: f.CA}},
		}, "same certificate"},
		{"same-path", []store.Source{
			{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key, CfgPath: "/n"}},
			{Name: "b", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: key, CfgPath: "/n"}},
		}, "both want"},
		{"key-mismatch", []store.Source{{Name: "a", Kind: "greenbutton", Enabled: true, Config: map[string]string{CfgListen: "127.0.0.1:0", CfgCert: cert, CfgKey: f.ClientKey}}}, "listener certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StartAll(tc.srcs, func(store.Source) http.Handler { return http.NotFoundHandler() }, nil)
			if err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err %v, want %q", err, tc.words)
			}
		})
	}
}

// Issue 16 item 6: a listener without a client CA is started with a warning that says what to
// set; one with a client CA is not warned about.
func TestOpenListenerWarns(t *testing.T) {
	_, f, cert, key := files(t)
	for _, ca := range []string{"", f.CA} {
		var logs strings.Builder
		l, err := New(Config{Addr: "127.0.0.1:0", CertFile: cert, KeyFile: key, ClientCAFile: ca}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		_ = l
		warned := strings.Contains(logs.String(), "accepts any client") && strings.Contains(logs.String(), "notify_client_ca")
		if warned != (ca == "") {
			t.Errorf("client CA %q: log %q", ca, logs.String())
		}
	}
}

func TestDefaultPath(t *testing.T) {
	RegisterPath("test-kind", "/t/{name}/in")
	for _, c := range []struct {
		src  store.Source
		want string
	}{
		{store.Source{Name: "my meter", Kind: "test-kind"}, "/t/my%20meter/in"},
		{store.Source{Name: "x", Kind: "unregistered-kind"}, "/notify/x"},
	} {
		if got := DefaultPath(c.src); got != c.want {
			t.Errorf("DefaultPath(%s, %s) = %q, want %q", c.src.Kind, c.src.Name, got, c.want)
		}
	}
}
