package simtls

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMutualTLS(t *testing.T) {
	p, err := New("custody-test-client")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS, err = p.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	defer srv.Close()

	clientTLS, _ := p.ClientTLS()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello custody-test-client" {
		t.Fatalf("body %q", body)
	}

	// Without the client certificate the handshake fails; with only the CA trusted but no
	// client certificate, too. Verification stays on: a client not trusting the CA fails.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CAPool()}}}
	if _, err := noCert.Get(srv.URL); err == nil {
		t.Fatal("request without a client certificate succeeded")
	}
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: clientTLS.Certificates}}}
	if _, err := untrusting.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("request not trusting the CA: %v", err)
	}
}
