package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestArchitecture enforces the dependency rules of ARCHITECTURE.md ("Rules the code keeps"):
// the store and the sync engine never depend on Fyne or the keyring (so they run headless and
// can never leak a secret into a widget), and the UI never does network I/O itself.
func TestArchitecture(t *testing.T) {
	goList := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list", "-tags", "ci"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, pkg := range []string{"./store/...", "./sync/..."} {
		for _, line := range strings.Split(goList("-f", "{{.ImportPath}}: {{join .Deps \" \"}}", pkg), "\n") {
			if line == "" {
				continue
			}
			name, deps, _ := strings.Cut(line, ": ")
			for _, dep := range strings.Fields(deps) {
				if strings.HasPrefix(dep, "fyne.io/") || strings.HasPrefix(dep, "github.com/zalando/go-keyring") ||
					strings.HasPrefix(dep, "github.com/go-gl/") || dep == "custody/app/secrets" || dep == "custody/ui" {
					t.Errorf("%s depends on %s: store/ and sync/ must stay free of Fyne and the keyring", name, dep)
				}
			}
		}
	}
	for _, line := range strings.Split(goList("-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./ui/..."), "\n") {
		name, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == "net/http" || imp == "net" || imp == "custody/app/secrets" || strings.HasPrefix(imp, "github.com/zalando/go-keyring") {
				t.Errorf("%s imports %s: the UI talks to the engine through interfaces, never to the network or keyring itself", name, imp)
			}
		}
	}
}
