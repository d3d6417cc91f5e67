package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/store"
)

// TestImportAndNeeded: an Import setting keeps only "true" in Config and gives its file's
// contents for the keyring; an edit that keeps it reads nothing again; a Secret with NeededBy
// is needed only by the sources it says.
func TestImportAndNeeded(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := Kind{Name: "x", Settings: []Setting{
		{Key: "mode", Flag: "mode", Type: Choice, Choices: []string{"secret", "key"}},
		{Key: "key_keyring", Flag: "key-keyring", Type: File, Import: "key"},
		{Key: "client_secret", Type: Secret, Required: true, NeededBy: func(src store.Source, imported map[string]string) bool {
			return src.Config["mode"] != "key"
		}},
	}}
	given := Values{"key-keyring": {key}, "mode": {"key"}}
	src, err := Build(k, "s", given)
	if err != nil {
		t.Fatal(err)
	}
	if src.Config["key_keyring"] != ImportedValue {
		t.Fatalf("config %v: the path was kept", src.Config)
	}
	imp, err := Imports(k, given)
	if err != nil || imp["key"] != "PEM" {
		t.Fatalf("imports %v %v", imp, err)
	}
	if k.Secrets()[0].Needed(src, imp) {
		t.Fatal("the secret is needed by a key source")
	}
	other, _ := Build(k, "t", Values{"mode": {"secret"}})
	if !k.Secrets()[0].Needed(other, nil) {
		t.Fatal("the secret is not needed by a secret source")
	}
	// An edit that shows the kept value back changes nothing and imports nothing.
	same, err := Apply(k, src, Values{"key-keyring": {ImportedValue}})
	if err != nil || same.Config["key_keyring"] != ImportedValue {
		t.Fatalf("edit: %v %v", same.Config, err)
	}
	if imp, _ := Imports(k, Values{"key-keyring": {ImportedValue}}); len(imp) != 0 {
		t.Fatalf("imported again: %v", imp)
	}
	if _, err := Imports(k, Values{"key-keyring": {filepath.Join(dir, "none")}}); err == nil || !strings.Contains(err.Error(), "--key-keyring") {
		t.Fatalf("a missing file: %v", err)
	}
}
