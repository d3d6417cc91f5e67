package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/sync/simtls"
)

// Issue 16 item 6: adding a source whose notification listener has no client CA warns, on
// stderr, that anyone who reaches it can push, and says what to set.
func TestSourcesAddWarnsAboutOpenListener(t *testing.T) {
	pki, err := simtls.New("custody-warn-test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := pki.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv-key.pem")
	os.WriteFile(srvCert, pki.ServerCertPEM, 0o600)
	os.WriteFile(srvKey, pki.ServerKeyPEM, 0o600)
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	for _, tc := range []struct {
		name string
		ca   []string
		warn bool
	}{
		{"open", nil, true},
		{"guarded", []string{"--notify-client-ca", files.CA}, false},
	} {
		args := append([]string{"sources", "add", "greenbutton", tc.name, "--base-url", "https://127.0.0.1:9/espi/1_1/resource",
			"--token-url", "https://127.0.0.1:9/token", "--client-id", "c", "--bulk-id", "1",
			"--notify-listen", "127.0.0.1:0", "--notify-cert", srvCert, "--notify-key", srvKey, "--secret-stdin"}, tc.ca...)
		code, out, errOut := c.run("a-secret-value\n", args...)
		if code != 0 {
			t.Fatalf("%s: sources add: %d %s%s", tc.name, code, out, errOut)
		}
		if got := strings.Contains(errOut, "accepts any client") && strings.Contains(errOut, "--notify-client-ca"); got != tc.warn {
			t.Errorf("%s: stderr %q", tc.name, errOut)
		}
	}
}
