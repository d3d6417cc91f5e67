package secrets

import (
	"errors"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

func TestKeyringRoundTripWithMock(t *testing.T) {
	keyring.MockInit()
	var k Keyring
	if _, err := k.Secret("home", "client_secret"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent secret: got %v, want ErrNotFound", err)
	}
	if err := k.SetSecret("home", "client_secret", "s3cret"); err != nil {
		t.Fatal(err)
	}
	got, err := k.Secret("home", "client_secret")
	if err != nil || got != "s3cret" {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	if err := DeleteAll(k, "home"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Secret("home", "client_secret"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: got %v", err)
	}
}

func TestKeyringUnavailableSaysWhatToDo(t *testing.T) {
	keyring.MockInitWithError(errors.New(`exec: "dbus-launch": executable file not found in $PATH`))
	defer keyring.MockInit()
	var k Keyring
	err := k.SetSecret("home", "client_secret", "s3cret")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"keyring", "unlock", "never stores secrets in a file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the secret: %q", err)
	}
}

func TestTooBigIsRefusedBeforeTheKeyring(t *testing.T) {
	keyring.MockInit()
	var k Keyring
	if err := k.SetSecret("home", "client_key", strings.Repeat("k", MaxSize+1)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("got %v, want ErrTooBig", err)
	}
	m := NewMemory()
	if err := m.SetSecret("home", "client_key", strings.Repeat("k", MaxSize+1)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("memory: got %v, want ErrTooBig", err)
	}
}

// flaky is a store that fails the writes and reads it is told to, as a locked keyring would.
type flaky struct {
	Store
	failSet  map[string]bool // "field=value" refused
	failRead bool
}

func (f flaky) SetSecret(source, field, value string) error {
	if f.failSet[field+"="+value] {
		return errors.New("the keyring is locked")
	}
	return f.Store.SetSecret(source, field, value)
}

func (f flaky) Secret(source, field string) (string, error) {
	if f.failRead {
		return "", ErrUnavailable
	}
	return f.Store.Secret(source, field)
}

// Replace stores all the fields or none: a write that fails puts back the fields written
// before it (their earlier value, or none), and a keyring that cannot be read is not written.
func TestReplaceIsAllOrNone(t *testing.T) {
	fields := []string{"client_secret", "signing_key", "signing_key_passphrase"}
	newValues := map[string]string{"client_secret": "new-secret", "signing_key": "new-key", "signing_key_passphrase": "new-pass"}
	cases := []struct {
		name     string
		failSet  string
		failRead bool
		wantErr  string
	}{
		{"all stored", "", false, ""},
		{"the last refused", "signing_key_passphrase=new-pass", false, "the earlier secrets are kept"},
		{"the second refused", "signing_key=new-key", false, "the earlier secrets are kept"},
		{"the first refused", "client_secret=new-secret", false, "the earlier secrets are kept"},
		{"put back refused", "signing_key_passphrase=new-pass client_secret=old-secret", false, "could not all be put back"},
		{"unreadable", "", true, "not available"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := NewMemory()
			if err := mem.SetSecret("bank", "client_secret", "old-secret"); err != nil {
				t.Fatal(err)
			}
			s := flaky{Store: mem, failSet: map[string]bool{}, failRead: c.failRead}
			for _, f := range strings.Fields(c.failSet) {
				s.failSet[f] = true
			}
			err := Replace(s, "bank", fields, newValues)
			got := map[string]string{}
			for _, f := range fields {
				if v, err := mem.Secret("bank", f); err == nil {
					got[f] = v
				}
			}
			switch {
			case c.wantErr == "":
				if err != nil || len(got) != 3 || got["signing_key"] != "new-key" || got["client_secret"] != "new-secret" {
					t.Fatalf("Replace = %v, stored %v", err, got)
				}
			case err == nil || !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("Replace = %v, want %q", err, c.wantErr)
			case c.name == "put back refused":
				// What could not be put back is said; the rest is as before.
				if got["signing_key"] != "" {
					t.Fatalf("stored %v", got)
				}
			default:
				if len(got) != 1 || got["client_secret"] != "old-secret" {
					t.Fatalf("after a failed Replace the keyring holds %v, want only the old secret", got)
				}
			}
		})
	}
}
