package testkit

import (
	"testing"
	"time"
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
