package espi

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestIdleBodyEndsStalledDownload checks that a body that stops delivering bytes for the idle
// time ends with a deadline error, while a body that keeps trickling does not.
func TestIdleBodyEndsStalledDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-ctx.Done() // what the HTTP transport does: a cancelled request closes its body
			pr.CloseWithError(ctx.Err())
		}()
		b := newIdleBody(pr, time.Minute, cancel)
		go func() {
			for range 5 {
				time.Sleep(50 * time.Second) // a trickle: each gap shorter than the idle time
				pw.Write([]byte("x"))
			}
			// then the custodian stalls
		}()
		got, err := io.ReadAll(b)
		if len(got) != 5 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read %q, err %v; want 5 bytes then a deadline error", got, err)
		}
		b.Close()
	})
}

func TestLimitedReaderFailsPastLimit(t *testing.T) {
	l := &limitedReader{r: strings.NewReader("0123456789"), n: 4}
	got, err := io.ReadAll(l)
	if !errors.Is(err, errTooLarge) || len(got) > 5 || !errors.Is(l.err, errTooLarge) {
		t.Fatalf("read %q, err %v", got, err)
	}
	l = &limitedReader{r: strings.NewReader("0123"), n: 4}
	if got, err := io.ReadAll(l); err != nil || string(got) != "0123" {
		t.Fatalf("at the limit: %q %v", got, err)
	}
}

func TestUnder(t *testing.T) {
	c := &Client{}
	c.Base, _ = url.Parse("https://api.pge.com/GreenButtonConnect/espi/1_1/resource")
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/50952?correlationID=1", true},
		{"https://API.PGE.COM:443/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", true},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resourceX/Batch/Bulk/1", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/../../../admin", false},
		{"https://api.pge.com/other/Batch/Bulk/1", false},
		{"http://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"https://api.pge.com:8443/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"https://evil.example/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"https://api.pge.com@evil.example/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"https://u@api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1", false},
		{"not a url at all\x7f", false},
		// Issue 16 item 5: percent-encoded traversal, which the old check passed.
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/%2e%2e/%2e%2e/admin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/%2E%2E/X", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/..%2f..%2fadmin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/..%2F..%2Fadmin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/%252e%252e/%252e%252e/admin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/%25252e%25252e/admin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/%2e/Bulk/1", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/..%5c..%5cadmin", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch%00/Bulk/1", false},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/1%20a", true},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/..foo", true},
	}
	for _, tc := range tests {
		if got := c.Under(tc.uri); got != tc.ok {
			t.Errorf("Under(%q) = %v, want %v", tc.uri, got, tc.ok)
		}
	}
}

// TestWindowOf reads the window a notified URI names: the GBA contract's BatchList names it
// (fixtures/greenbutton/gba-contract-notification-batchlist.xml); PG&E's names none; a window
// that is not an xsd:dateTime (Alectra's date-only) is no window, so the answer is matched
// otherwise.
func TestWindowOf(t *testing.T) {
	jan, feb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		uri    string
		lo, hi time.Time
	}{
		{"https://utilityapi.com/DataCustodian/espi/1_1/resource/Batch/Subscription/503888?published-min=2025-01-01T00:00:00Z&published-max=2025-02-01T00:00:00Z", jan, feb},
		{"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/50952?correlationID=98cd4976-b79a-4fd9-addc-4e86e16717e9", time.Time{}, time.Time{}},
		{"https://h/r/Batch/Bulk/1?Published-Min=2025-01-01T00:00:00Z", jan, time.Time{}},
		{"https://h/r/Batch/Bulk/1?published-min=2025-01-01&published-max=2025-02-01T00:00:00Z", time.Time{}, feb},
		{"://not a uri", time.Time{}, time.Time{}},
	} {
		lo, hi := windowOf(tt.uri)
		if !lo.Equal(tt.lo) || !hi.Equal(tt.hi) {
			t.Errorf("windowOf(%q) = %v, %v; want %v, %v", tt.uri, lo, hi, tt.lo, tt.hi)
		}
	}
}
