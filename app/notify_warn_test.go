package app

import (
	"strings"
	"testing"
)

// Issue 16 item 6: adding a source whose notification listener has no client CA warns, on
// stderr, that anyone who reaches it can push, and says what to set.
func TestSourcesAddWarnsAboutOpenListener(t *testing.T) {
	r := newGBRig(t, "custody-warn-test", nil)
	files, srvCert, srvKey, c := r.files, r.srvCert, r.srvKey, r.c
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
