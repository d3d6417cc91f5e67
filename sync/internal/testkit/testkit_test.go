package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"custody/sync/engine"
)

func TestSecretsAndClock(t *testing.T) {
	s := Secrets{"home/client_secret": "x"}
	if v, err := s.Secret("home", "client_secret"); err != nil || v != "x" {
		t.Fatalf("Secret = %q, %v", v, err)
	}
	if _, err := s.Secret("home", "client_key"); err == nil {
		t.Fatal("absent secret found")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	c.Add(90 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("Now = %v", got)
	}
}

// TestKeyring: a Keyring reads what it was given (a copy: changing the map given later changes
// nothing), stores what a driver renews, says when a secret is absent, and is safe for
// concurrent readers and writers (run with -race).
func TestKeyring(t *testing.T) {
	given := map[string]string{"home/client_secret": "x"}
	k := NewKeyring(given)
	var _ engine.Secrets = k
	given["home/client_secret"] = "changed"
	if v, err := k.Secret("home", "client_secret"); err != nil || v != "x" {
		t.Fatalf("Secret = %q, %v", v, err)
	}
	if _, err := k.Secret("home", "refresh_token"); err == nil {
		t.Fatal("absent secret found")
	}
	if _, err := k.Secret("cabin", "client_secret"); err == nil {
		t.Fatal("another source's secret found")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := fmt.Sprint("token-", i)
			if err := k.SetSecret("home", fmt.Sprint("field", i), v); err != nil {
				t.Error(err)
			}
			if got, err := k.Secret("home", fmt.Sprint("field", i)); err != nil || got != v {
				t.Errorf("field%d = %q, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	if err := k.SetSecret("home", "client_secret", "y"); err != nil {
		t.Fatal(err)
	}
	if v, _ := k.Secret("home", "client_secret"); v != "y" {
		t.Fatalf("after SetSecret, %q", v)
	}
}
