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
