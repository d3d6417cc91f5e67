package syncerr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	dnsErr := &net.DNSError{Err: "no such host", Name: "custodian.example"}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Unknown},
		{"plain", errors.New("boom"), Unknown},
		{"classified", E(Auth, "token", errors.New("invalid_client")), Auth},
		{"wrapped classified", fmt.Errorf("sync home: %w", E(Server, "GET x", errors.New("503"))), Server},
		{"innermost kind wins over a wrapper without one", &Error{Op: "outer", Err: E(Data, "parse", errors.New("bad"))}, Data},
		{"dns", dnsErr, Network},
		{"url error", &url.Error{Op: "Get", URL: "https://x", Err: errors.New("connection refused")}, Network},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), Network},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestAdviceAndRetryAfter(t *testing.T) {
	e := E(Server, "GET Batch/Bulk/1", errors.New("429 Too Many Requests"))
	e.RetryAfter = 90 * time.Second
	wrapped := fmt.Errorf("sync: %w", e)
	if got := RetryAfterOf(wrapped); got != 90*time.Second {
		t.Errorf("RetryAfterOf = %v", got)
	}
	if got := RetryAfterOf(errors.New("x")); got != 0 {
		t.Errorf("RetryAfterOf(unclassified) = %v", got)
	}
	if !strings.Contains(Advice(wrapped), "retry") {
		t.Errorf("server advice %q does not say it retries", Advice(wrapped))
	}
	if !strings.Contains(Advice(E(Auth, "token", errors.New("x"))), "reauthorise") {
		t.Errorf("auth advice %q", Advice(E(Auth, "token", errors.New("x"))))
	}
	hinted := &Error{Kind: Config, Op: "sources", Err: errors.New("no bulk id"), Hint: "Add --bulk-id."}
	if Advice(hinted) != "Add --bulk-id." {
		t.Errorf("hint not used: %q", Advice(hinted))
	}
	if got := e.Error(); got != "GET Batch/Bulk/1: 429 Too Many Requests" {
		t.Errorf("Error() = %q", got)
	}
	for _, k := range []Kind{Auth, Network, Server, Data, Config, Local, Unknown} {
		if Advice(&Error{Kind: k, Err: errors.New("x")}) == "" {
			t.Errorf("no advice for kind %q", k)
		}
	}
}
