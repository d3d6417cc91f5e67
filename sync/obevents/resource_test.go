package obevents

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
)

// TestParseResourceExamples parses the Open Banking specification's examples of each kind of
// resource Custody reads and checks what a person is told about it.
func TestParseResourceExamples(t *testing.T) {
	now := time.Date(2017, 6, 5, 18, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		file, kind, rid string
		want            store.ResourceState
		sentence        string
	}{
		{file: "domestic-payments_58923-001.json", kind: "domestic-payments", rid: "58923-001",
			want: store.ResourceState{Status: "AcceptedSettlementInProcess", Amount: "165.88", Currency: "GBP", Creditor: "ACME Inc",
				StatusAt: time.Date(2017, 6, 5, 15, 15, 13, 0, time.UTC), Dates: "created 2017-06-05"},
			sentence: "Domestic payment 58923-001 of 165.88 GBP to ACME Inc: AcceptedSettlementInProcess at 15:15"},
		{file: "domestic-payment-consents_58923.json", kind: "domestic-payment-consents", rid: "58923",
			want: store.ResourceState{Status: "Authorised", Amount: "165.88", Currency: "GBP", Creditor: "ACME Inc",
				StatusAt: time.Date(2017, 6, 5, 15, 15, 22, 0, time.UTC), Dates: "created 2017-06-05"},
			sentence: "Domestic payment consent 58923 of 165.88 GBP to ACME Inc: Authorised at 15:15"},
		{file: "domestic-standing-orders_SO-SOC-100.json", kind: "domestic-standing-orders", rid: "SO-SOC-100",
			want: store.ResourceState{Status: "InitiationCompleted", Amount: "7.00", Currency: "GBP", Creditor: "Bob Clements",
				StatusAt: time.Date(1976, 6, 6, 6, 6, 6, 0, time.UTC),
				Dates:    "created 1976-01-01; first payment 1976-06-06; final payment 1981-03-20; frequency EvryDay"},
			sentence: "Domestic standing order SO-SOC-100 of 7.00 GBP to Bob Clements: InitiationCompleted at 06:06 on 1976-06-06"},
		{file: "international-scheduled-payment-consents_58923.json", kind: "international-scheduled-payment-consents", rid: "58923",
			want: store.ResourceState{Status: "AwaitingAuthorisation", Amount: "165.88", Currency: "USD", Creditor: "ACME Inc",
				StatusAt: time.Date(2017, 6, 5, 15, 15, 13, 0, time.UTC),
				Dates:    "created 2017-06-05; cut-off 2017-06-05; requested execution 2018-08-06"},
			sentence: "International scheduled payment consent 58923 of 165.88 USD to ACME Inc: AwaitingAuthorisation at 15:15"},
		{file: "file-payments_v4.json", kind: "file-payments", rid: "string",
			want: store.ResourceState{Status: "Pending (PDNG)", Amount: "0",
				StatusAt: time.Date(2025, 11, 21, 16, 28, 17, 906000000, time.UTC),
				Dates:    "created 2025-11-21; 8927620322691 payments in the file; requested execution 2025-11-21"},
			sentence: "File payment string of 0: Pending (PDNG) at 16:28 on 2025-11-21"},
		{file: "account-access-consents_88379.json", kind: "account-access-consents", rid: "urn-alphabank-intent-88379",
			want: store.ResourceState{Status: "AwaitingAuthorisation", StatusAt: time.Date(2017, 5, 2, 0, 0, 0, 0, time.UTC),
				Dates: "created 2017-05-02; expires 2017-08-02"},
			sentence: "Account access consent urn-alphabank-intent-88379: AwaitingAuthorisation at 00:00 on 2017-05-02"},
		{file: "account-access-consents_v4-statuscode.json", kind: "account-access-consents", rid: "urn-alphabank-intent-88379",
			want: store.ResourceState{Status: "AwaitingAuthorisation (AWAU)", StatusAt: time.Date(2017, 5, 2, 0, 0, 0, 0, time.UTC),
				Dates: "created 2017-05-02; expires 2017-08-02"},
			sentence: "Account access consent urn-alphabank-intent-88379: AwaitingAuthorisation (AWAU) at 00:00 on 2017-05-02"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "resources", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseResource(tt.kind, tt.rid, body)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Kind, want.RID = tt.kind, tt.rid
			if !got.StatusAt.Equal(want.StatusAt) {
				t.Errorf("status time %v, want %v", got.StatusAt, want.StatusAt)
			}
			got.StatusAt = want.StatusAt
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if s := got.Sentence(time.UTC, now); s != tt.sentence {
				t.Errorf("sentence %q\n    want %q", s, tt.sentence)
			}
		})
	}
}

// TestParseResourceRefusesBadInput: what is not a resource says so, naming the resource.
func TestParseResourceRefusesBadInput(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{``, "not a readable Open Banking resource"},
		{`<html>`, "not a readable Open Banking resource"},
		{`{"Links":{}}`, "has no Data"},
		{`{"Data":{"ConsentId":"x"}}`, "has no Data.Status"},
		{`{"Data":{"Status":7}}`, "not a readable"},
	} {
		_, err := ParseResource("domestic-payments", "p-1", []byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "domestic-payments p-1") {
			t.Errorf("%q: %v, want %q", tt.body, err, tt.want)
		}
	}
}

// TestClassifyLink: which links are read with which token, and which need the customer.
func TestClassifyLink(t *testing.T) {
	base := "https://bank.example/open-banking/v3.1/"
	for _, tt := range []struct {
		path string
		want linkAccess
	}{
		{"pisp/domestic-payments/p1", linkAccess{Kind: "domestic-payments", Scope: "payments", Readable: true}},
		{"pisp/domestic-scheduled-payments/p1", linkAccess{Kind: "domestic-scheduled-payments", Scope: "payments", Readable: true}},
		{"pisp/domestic-standing-orders/p1", linkAccess{Kind: "domestic-standing-orders", Scope: "payments", Readable: true}},
		{"pisp/international-payments/p1", linkAccess{Kind: "international-payments", Scope: "payments", Readable: true}},
		{"pisp/file-payments/p1", linkAccess{Kind: "file-payments", Scope: "payments", Readable: true}},
		{"pisp/domestic-vrp-consents/c1", linkAccess{Kind: "domestic-vrp-consents", Scope: "payments", Readable: true}},
		{"aisp/account-access-consents/c1", linkAccess{Kind: "account-access-consents", Scope: "accounts", Readable: true}},
		{"cbpii/funds-confirmation-consents/c1", linkAccess{Kind: "funds-confirmation-consents", Scope: "fundsconfirmations", Readable: true}},
		{"aisp/accounts/a1", linkAccess{Kind: "accounts", Consent: true}},
		{"aisp/accounts/a1/balances", linkAccess{Kind: "a1", Consent: true}},
		{"other/things/x", linkAccess{Kind: "things"}},
	} {
		if got := classifyLink(base + tt.path); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

// FuzzParseResource: any bytes give a state or an error, never a panic, and fields stay bounded.
func FuzzParseResource(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "resources", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Data":{"Status":"RJCT","Initiation":{"InstructedAmount":{"Amount":{"Amount":{"Amount":"1"}}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := ParseResource("domestic-payments", "p", body)
		if err != nil {
			return
		}
		if st.Status == "" || len(st.Creditor) > maxField+4 || len(st.Amount) > 44 || len(st.Status) > maxField+4 {
			t.Fatalf("state %+v", st)
		}
	})
}
