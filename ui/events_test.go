package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"custody/store"
)

// putPaymentEvent stores a verified resource-update event about a domestic payment, received
// at the given time, with the status its resource was found in.
func putPaymentEvent(t *testing.T, st *store.Store, jti, status string, at time.Time) store.Event {
	t.Helper()
	srcs, err := st.Sources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := st.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	e := store.Event{SourceID: srcs[1].ID, ISS: "https://bank.example", JTI: jti, AUD: "tpp-1",
		Types:   []string{"urn:uk:org:openbanking:events:resource-update"},
		Subject: `{"http://openbanking.org.uk/rid":"dsp-0015","http://openbanking.org.uk/rty":"domestic-payment","http://openbanking.org.uk/rlk":[{"version":"v3.1","link":"https://bank.example/open-banking/v3.1/pisp/domestic-payments/dsp-0015"}]}`,
		RID:     "dsp-0015", RTY: "domestic-payment", TOE: at, IAT: at, Received: at, Verified: true, Token: "eyJ.e30.sig"}
	if _, err := tx.PutEvent(&e); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutResourceState(&store.ResourceState{EventID: e.ID, SourceID: e.SourceID, RID: "dsp-0015", Kind: "domestic-payments",
		Status: status, StatusAt: at, Amount: "120.00", Currency: "GBP", Creditor: "ACME", Dates: "created 2024-06-03", Fetched: at}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEventsInboxSaysWhatHappened: a payment event's row and detail say what happened to the
// payment in a sentence, the detail shows the payment's status timeline across events, the
// selection stays on its event while newer events arrive, and the resource filters work.
func TestEventsInboxSaysWhatHappened(t *testing.T) {
	h := newHarness(t, 0)
	putPaymentEvent(t, h.st, "pay-1", "AcceptedSettlementInProcess", testNow.Add(-30*time.Minute))
	second := putPaymentEvent(t, h.st, "pay-2", "AcceptedSettlementCompleted", testNow.Add(-28*time.Minute))
	h.show(ViewEvents)
	v := h.m.views[ViewEvents].(*eventsView)
	v.reload()
	h.m.Wait()
	h.m.Wait()
	if len(v.events) != 5 || v.events[0].JTI != "pay-2" {
		t.Fatalf("events %d, first %q: newest first wanted", len(v.events), v.events[0].JTI)
	}
	sentence := "Domestic payment dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted at 09:02"
	if line := eventLine(v.events[0], testNow); !strings.Contains(line, sentence) {
		t.Errorf("row %q, want it to say %q", line, sentence)
	}
	if v.selected != second.ID {
		t.Fatalf("selected %d, want the newest %d", v.selected, second.ID)
	}
	for _, want := range []string{sentence, "Status timeline:", "09:00  AcceptedSettlementInProcess",
		"09:02  AcceptedSettlementCompleted  (this event)", "Verification: signature and claims verified"} {
		if !strings.Contains(v.detail.Text, want) {
			t.Fatalf("detail lacks %q:\n%s", want, v.detail.Text)
		}
	}
	h.capture(t, "events_payment.png")

	// The user reads an older event; newer ones arrive: the selection stays on it.
	v.list.Select(3)
	h.m.Wait()
	reading := v.events[3]
	putPaymentEvent(t, h.st, "pay-3", "AcceptedCreditSettlementCompleted", testNow.Add(-time.Minute))
	v.reload()
	h.m.Wait()
	h.m.Wait()
	if len(v.events) != 6 || v.events[0].JTI != "pay-3" {
		t.Fatalf("after a new event: %d events, first %q", len(v.events), v.events[0].JTI)
	}
	if v.selected != reading.ID || v.events[4].ID != reading.ID || !strings.Contains(v.detail.Text, reading.JTI) {
		t.Fatalf("selection moved: selected %d, want %d (%s); detail:\n%s", v.selected, reading.ID, reading.JTI, v.detail.Text)
	}

	// Filters by resource type and status.
	v.resStatus.SetSelected("AcceptedSettlementCompleted")
	h.m.Wait()
	h.m.Wait()
	if len(v.events) != 1 || v.events[0].JTI != "pay-2" {
		t.Fatalf("status filter: %+v", v.events)
	}
	v.resStatus.SetSelected(anyResState)
	v.rty.SetSelected("account-access-consent")
	h.m.Wait()
	h.m.Wait()
	if len(v.events) != 1 || v.events[0].RID != "aac-991" {
		t.Fatalf("resource type filter: %+v", v.events)
	}
	if !strings.Contains(strings.Join(v.rty.Options, ","), "domestic-payment") || !strings.Contains(strings.Join(v.resStatus.Options, ","), "AcceptedSettlementInProcess") {
		t.Fatalf("filter choices %v %v", v.rty.Options, v.resStatus.Options)
	}
}
