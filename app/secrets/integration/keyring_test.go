// Package integration holds the test that talks to a real Secret Service. It lives in its own
// package (its own test binary) because go-keyring's mock replaces a process-wide provider.
package integration

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"custody/app/secrets"
)

// TestRealSecretService stores, reads and deletes a secret in a real keyring. It runs when
// KEYRING_INTEGRATION=1, which `make test` sets inside a private dbus-run-session with an
// unlocked gnome-keyring (scripts/with-keyring.sh).
func TestRealSecretService(t *testing.T) {
	if os.Getenv("KEYRING_INTEGRATION") != "1" {
		t.Skip("set KEYRING_INTEGRATION=1 inside scripts/with-keyring.sh to run against a real Secret Service")
	}
	var k secrets.Keyring
	source := fmt.Sprintf("integration-%d", time.Now().UnixNano())
	if _, err := k.Secret(source, "client_secret"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("absent secret: got %v, want ErrNotFound", err)
	}
	if err := k.SetSecret(source, "client_secret", "real-s3cret"); err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	got, err := k.Secret(source, "client_secret")
	if err != nil || got != "real-s3cret" {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	if err := k.SetSecret(source, "client_secret", "rotated"); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got, _ := k.Secret(source, "client_secret"); got != "rotated" {
		t.Fatalf("after replace got %q", got)
	}
	if err := secrets.DeleteAll(k, source); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	if _, err := k.Secret(source, "client_secret"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("after delete: got %v", err)
	}
}

// TestRealSecretServiceKeepsDatabasesApart stores a secret for a source of the same name in
// two databases' keyrings of a real Secret Service: each reads its own, and deleting one leaves
// the other.
func TestRealSecretServiceKeepsDatabasesApart(t *testing.T) {
	if os.Getenv("KEYRING_INTEGRATION") != "1" {
		t.Skip("set KEYRING_INTEGRATION=1 inside scripts/with-keyring.sh to run against a real Secret Service")
	}
	stamp := time.Now().UnixNano()
	a := secrets.Keyring{}.ForDatabase(fmt.Sprintf("db-a-%d", stamp))
	b := secrets.Keyring{}.ForDatabase(fmt.Sprintf("db-b-%d", stamp))
	if err := a.SetSecret("dup", "client_secret", "secret-of-a"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSecret("dup", "client_secret", "secret-of-b"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Secret("dup", "client_secret"); err != nil || got != "secret-of-a" {
		t.Fatalf("database a reads %q, %v", got, err)
	}
	if err := secrets.DeleteAll(a, "dup"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Secret("dup", "client_secret"); err != nil || got != "secret-of-b" {
		t.Fatalf("deleting a's item touched b's: %q, %v", got, err)
	}
	if err := secrets.DeleteAll(b, "dup"); err != nil {
		t.Fatal(err)
	}
}

// TestNoSessionBusIsAClearError checks the message a user sees with no keyring at all.
func TestNoSessionBusIsAClearError(t *testing.T) {
	if os.Getenv("KEYRING_INTEGRATION") != "nobus" {
		t.Skip("run with KEYRING_INTEGRATION=nobus and no DBUS_SESSION_BUS_ADDRESS")
	}
	var k secrets.Keyring
	err := k.SetSecret("nobus", "client_secret", "x")
	if !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}
