package espi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/sync/espi"
)

func TestParseAuthorizationsFixtures(t *testing.T) {
	at := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		file                     string
		n                        int
		status                   int
		sub, bulk, scope, reason string
		application              bool
	}{
		// Two customers' authorizations, as a third party lists them; their authorizedPeriod
		// ended in 2021.
		{file: "gba-authorizations-feed.xml", n: 2, status: 1, sub: "test-subscription-id-1", scope: "FB=1_3_4_5", reason: "expired"},
		// PG&E writes the periods in milliseconds; the duration is open-ended in practice.
		{file: "pge-authorization-entry-ms-epoch.xml", n: 1, status: 1, sub: "0", scope: "FB=1_3_4_5_8_13_14_15_18_19_31_32_35_37_38_39_40;"},
		// Authorised from 2023 for 6.4 years: still current.
		{file: "utilityapi-authorization-entry.xml", n: 1, status: 1, sub: "xxxxxx", scope: "FB=1"},
		{file: "gba-authorization-entry.xml", n: 1, status: 1, reason: "expired"},
		{file: "pge-applicationinformation-entry.xml", n: 1, status: espi.AuthActive, application: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			as, err := espi.ParseAuthorizations(bytes.NewReader(b))
			if err != nil || len(as) != tc.n {
				t.Fatalf("%d authorizations, %v", len(as), err)
			}
			a := as[0]
			if a.Status != tc.status || a.Application != tc.application {
				t.Fatalf("%+v", a)
			}
			if tc.sub != "" && a.SubscriptionID() != tc.sub {
				t.Errorf("subscription %q, want %q (%s)", a.SubscriptionID(), tc.sub, a.ResourceURI)
			}
			if tc.scope != "" && !strings.HasPrefix(a.Scope, tc.scope) {
				t.Errorf("scope %q", a.Scope)
			}
			if !tc.application && a.URI() == "" {
				t.Error("no URI")
			}
			ended, why := a.Ended(at)
			if ended != (tc.reason != "") || why != tc.reason {
				t.Errorf("ended %v %q, want %q", ended, why, tc.reason)
			}
			if txt := espi.FormatAuthorizations(as, at); !strings.Contains(txt, "subscription id "+tc.sub) && tc.sub != "" {
				t.Errorf("format: %q", txt)
			}
		})
	}
}

func TestAuthorizationStatuses(t *testing.T) {
	feed := func(status, app string) string {
		return `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"><entry><title>Customer 7</title>
<link rel="self" href="https://h/r/Authorization/7"/><content>` + app + `<espi:Authorization><espi:status>` + status + `</espi:status>
<espi:resourceURI>https://h/r/Batch/Bulk/50916</espi:resourceURI></espi:Authorization></content></entry></feed>`
	}
	at := time.Now()
	for _, tc := range []struct {
		status, why string
	}{{"0", "revoked"}, {"1", ""}, {"2", "denied"}, {" 5 ", "ended (status 5)"}} {
		as, err := espi.ParseAuthorizations(strings.NewReader(feed(tc.status, "")))
		if err != nil || len(as) != 1 {
			t.Fatalf("%q: %v %v", tc.status, as, err)
		}
		if _, why := as[0].Ended(at); why != tc.why || as[0].BulkID() != "50916" || as[0].URI() != "https://h/r/Authorization/7" || as[0].Title != "Customer 7" {
			t.Errorf("status %q: %q, %+v", tc.status, why, as[0])
		}
	}
	// A registration the custodian revoked.
	app := `<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="self" href="https://h/r/ApplicationInformation/1"/><content>
<ApplicationInformation xmlns="http://naesb.org/espi"><dataCustodianApplicationStatus>4</dataCustodianApplicationStatus></ApplicationInformation></content></entry></feed>`
	as, err := espi.ParseAuthorizations(strings.NewReader(app))
	if err != nil || len(as) != 1 || !as[0].Application {
		t.Fatalf("%+v %v", as, err)
	}
	if ended, why := as[0].Ended(at); !ended || why != "revoked" {
		t.Fatalf("revoked registration: %v %q", ended, why)
	}
	// Broken input: an error naming where, never a panic.
	if _, err := espi.ParseAuthorizations(strings.NewReader(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><content>`)); err == nil {
		t.Fatal("a truncated feed parsed")
	}
}

func FuzzParseAuthorizations(f *testing.F) {
	for _, name := range []string{"gba-authorizations-feed.xml", "pge-authorization-entry-ms-epoch.xml", "utilityapi-authorization-entry.xml", "pge-applicationinformation-entry.xml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := espi.ParseAuthorizations(bytes.NewReader(b))
		if err == nil && len(as) > 10001 {
			t.Fatalf("%d authorizations", len(as))
		}
		now := time.Now()
		for _, a := range as {
			a.Ended(now)
			a.SubscriptionID()
			a.BulkID()
		}
		espi.FormatAuthorizations(as, now)
	})
}
