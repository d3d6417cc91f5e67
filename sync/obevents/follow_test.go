package obevents

import (
	"context"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/obevents/obtest"
)

// followed returns the events of the rig by rid, with their resource states.
func (r *rig) followed(t *testing.T) map[string]store.Event {
	t.Helper()
	out := map[string]store.Event{}
	for _, e := range r.events(t) {
		if _, seen := out[e.RID]; !seen { // newest first: keep the newest event of each resource
			out[e.RID] = e
		}
	}
	return out
}

// TestFollowUpMeaning: with --follow, each verified event's resource is read with a
// client-credentials token of the scope it needs (over mutual TLS, with private_key_jwt),
// parsed and stored, so that the event says what happened; account information is recorded
// as needing the customer's consent; one payment's statuses across events make its timeline.
func TestFollowUpMeaning(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: 6, InvalidEvery: -1}, obtest.TokenAuthJWT)
	r.job.Source.Config[CfgFollow] = "true"
	d := NewDriver()
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	got := r.followed(t)
	for _, tt := range []struct {
		rid, kind, status, note, amount, creditor string
	}{
		{rid: "pmt-0001", kind: "domestic-payments", status: "AcceptedSettlementCompleted", amount: "165.88", creditor: "ACME Inc"},
		{rid: "aac-0002", kind: "account-access-consents", status: "Revoked"},
		{rid: "dsp-0003", kind: "domestic-scheduled-payments", status: "InitiationCompleted", amount: "165.88", creditor: "ACME Inc"},
		{rid: "acc-0004", kind: "accounts", note: NoteNeedsConsent},
		{rid: "fcc-0005", kind: "funds-confirmation-consents", status: "Revoked"},
		{rid: "vrp-0006", kind: "domestic-vrp-consents", status: "Revoked", amount: "up to 165.88"},
	} {
		e := got[tt.rid]
		if e.Resource == nil {
			t.Errorf("%s: not followed", tt.rid)
			continue
		}
		res := e.Resource
		if res.Kind != tt.kind || res.Status != tt.status || res.Note != tt.note || res.Amount != tt.amount || res.Creditor != tt.creditor {
			t.Errorf("%s: %+v", tt.rid, *res)
		}
		if tt.status != "" && res.PayloadID == 0 {
			t.Errorf("%s: the resource was not archived", tt.rid)
		}
	}
	if n := r.sim.Requests("/resource"); n != 5 {
		t.Errorf("%d resource reads, want 5 (the account is not read)", n)
	}
	// One token per scope: eventpolling (the source's), payments, accounts, fundsconfirmations.
	if n := r.sim.Requests("/token"); n != 4 {
		t.Errorf("%d token requests, want 4", n)
	}

	// A payment's life: in process, then completed; and each other kind of payment order.
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, res := range []obtest.Resource{
		{Kind: "domestic-payments", ID: "dsp-0015", Status: "AcceptedSettlementInProcess", Amount: "120.00", Creditor: "ACME", At: at},
		{Kind: "international-payments", ID: "ip-1", Status: "AcceptedSettlementCompleted", Amount: "99.50", Currency: "EUR", Creditor: "Société X", At: at},
		{Kind: "domestic-standing-orders", ID: "so-1", Status: "InitiationCompleted", Amount: "7.00", Creditor: "Bob Clements", At: at},
		{Kind: "international-scheduled-payments", ID: "isp-1", Status: "InitiationPending", At: at},
		{Kind: "file-payments", ID: "fp-1", Status: "InitiationCompleted", At: at},
		{Kind: "domestic-payment-consents", ID: "dpc-1", Status: "Consumed", At: at},
	} {
		if _, err := r.sim.SetResource(res); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.SetResource(obtest.Resource{Kind: "domestic-payments", ID: "dsp-0015", Status: "AcceptedSettlementCompleted",
		Amount: "120.00", Creditor: "ACME", At: at.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	got = r.followed(t)
	want := map[string]string{
		"dsp-0015": "Domestic payment dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted at " + at.Add(2*time.Minute).Local().Format("15:04"),
		"ip-1":     "International payment ip-1 of 99.50 EUR to Société X: AcceptedSettlementCompleted at " + at.Local().Format("15:04"),
		"so-1":     "Domestic standing order so-1 of 7.00 GBP to Bob Clements: InitiationCompleted at " + at.Local().Format("15:04"),
		"isp-1":    "International scheduled payment isp-1 of 165.88 GBP to ACME Inc: InitiationPending at " + at.Local().Format("15:04"),
		"fp-1":     "File payment fp-1 of 500: InitiationCompleted at " + at.Local().Format("15:04"),
		"dpc-1":    "Domestic payment consent dpc-1 of 165.88 GBP to ACME Inc: Consumed at " + at.Local().Format("15:04"),
		"acc-0004": "Account acc-0004: needs the customer's consent",
	}
	for rid, sentence := range want {
		e := got[rid]
		if e.Resource == nil {
			t.Errorf("%s: not followed", rid)
			continue
		}
		if s := e.Resource.Sentence(time.Local, at); s != sentence {
			t.Errorf("%s: %q\n      want %q", rid, s, sentence)
		}
	}
	line, err := r.st.ResourceTimeline(context.Background(), r.src.ID, "dsp-0015")
	if err != nil {
		t.Fatal(err)
	}
	if len(line) != 2 || line[0].Status != "AcceptedSettlementInProcess" || line[1].Status != "AcceptedSettlementCompleted" ||
		!line[0].StatusAt.Before(line[1].StatusAt) {
		t.Fatalf("timeline %+v", line)
	}
	if !strings.Contains(got["fp-1"].Resource.Dates, "3 payments in the file") {
		t.Errorf("file payment dates %q", got["fp-1"].Resource.Dates)
	}
}

// TestFollowUpRetriesTransientFailures: a resource the bank cannot serve now (503) is read
// on the next sync; one it refuses (404) is recorded with the reason and not asked for again.
func TestFollowUpRetriesTransientFailures(t *testing.T) {
	r := newRig(t, obtest.Options{Events: -1, InvalidEvery: -1})
	r.job.Source.Config[CfgFollow] = "true"
	d := NewDriver()
	if _, err := r.sim.SetResource(obtest.Resource{Kind: "domestic-payments", ID: "p-1", Status: "Pending"}); err != nil {
		t.Fatal(err)
	}
	r.sim.InjectFault("/resource", obtest.Fault{Status: 503})
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatalf("a follow-up failure failed the sync: %v", err)
	}
	if e := r.followed(t)["p-1"]; e.Resource != nil {
		t.Fatalf("recorded despite a 503: %+v", *e.Resource)
	}
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if e := r.followed(t)["p-1"]; e.Resource == nil || e.Resource.Status != "Pending" {
		t.Fatalf("not read on the next sync: %+v", e.Resource)
	}
	if _, err := r.sim.SetResource(obtest.Resource{Kind: "domestic-payments", ID: "p-2", Status: "Pending"}); err != nil {
		t.Fatal(err)
	}
	r.sim.InjectFault("/resource", obtest.Fault{Status: 404})
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	e := r.followed(t)["p-2"]
	if e.Resource == nil || e.Resource.Status != "" || !strings.Contains(e.Resource.Note, "could not be read") || !strings.Contains(e.Resource.Note, "404") {
		t.Fatalf("404 not recorded: %+v", e.Resource)
	}
	before := r.sim.Requests("/resource")
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if r.sim.Requests("/resource") != before {
		t.Fatal("a refused resource was asked for again")
	}
}
