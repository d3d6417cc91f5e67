package ui

import (
	"maps"
	"testing"

	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// TestSourceFormOpenBankingSettings: the edit form of an obevents source, made from the
// driver's description, shows the Open Banking settings it has (so saving it does not drop
// them): saving it unchanged gives back the same settings.
func TestSourceFormOpenBankingSettings(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	src := store.Source{Name: "my-bank", Kind: "obevents", Enabled: true, Config: map[string]string{
		"base_url": "https://bank.example/open-banking/v3.1", "token_url": "https://bank.example/token", "client_id": "tpp",
		"jwks_url": "https://keys.example/bank.jwks", "issuer": "https://bank.example", "audience": "tpp",
		"org_id": "ORG1", "algs": "PS256,RS256",
		"error_codes": "draft", "max_events": "2", "event_types": `["UK.OBIE.Resource-Update","UK.OBIE.Consent-Access-Revoked"]`,
		"callback_url": "https://me.example/event-notifications", "follow": "true", "jti_window": "48h"}}
	f := v.newForm(src, false)
	got, err := f.build()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Config, src.Config) {
		t.Errorf("saved unchanged:\n%v\nwant\n%v", got.Config, src.Config)
	}
	if f.advanced == nil || !f.advanced.Items[0].Open {
		t.Error("the advanced settings are set but folded away")
	}
	if sel := f.field("error-codes").(*widget.Select); sel.Selected != "draft" {
		t.Errorf("error codes %q", sel.Selected)
	}
	if e := f.field("event-types").(*widget.Entry); e.Text != "UK.OBIE.Resource-Update\nUK.OBIE.Consent-Access-Revoked" {
		t.Errorf("event types %q", e.Text)
	}

	// A source without them: the defaults, nothing ticked, the advanced settings folded.
	f = v.newForm(store.Source{Name: "other", Kind: "obevents", Config: map[string]string{}}, false)
	if f.field("error-codes").(*widget.Select).Selected != "rfc" || f.field("no-subscription").(*widget.Check).Checked ||
		f.field("follow").(*widget.Check).Checked || f.field("max-events").(*widget.Entry).Text != "" ||
		f.field("event-types").(*widget.Entry).Text != "" || f.advanced.Items[0].Open {
		t.Error("defaults not shown")
	}
	// Ticking "Polling only" with a callback URL is refused by the kind's own rule.
	f.field("base-url").(*widget.Entry).SetText("https://bank.example/ob")
	f.field("token-url").(*widget.Entry).SetText("https://bank.example/token")
	f.field("client-id").(*widget.Entry).SetText("c")
	f.field("jwks-url").(*widget.Entry).SetText("https://bank.example/jwks")
	f.field("issuer").(*widget.Entry).SetText("i")
	f.field("audience").(*widget.Entry).SetText("c")
	f.field("no-subscription").(*widget.Check).SetChecked(true)
	f.field("callback-url").(*widget.Entry).SetText("https://me.example/event-notifications")
	if _, err := f.build(); err == nil || err.Error() != "--callback-url goes in the event subscription, which --no-subscription turns off: give one or the other" {
		t.Errorf("polling only with a callback: %v", err)
	}
	f.field("callback-url").(*widget.Entry).SetText("")
	got, err = f.build()
	if err != nil || got.Config["subscription"] != "none" || got.Config["error_codes"] != "" {
		t.Errorf("polling only: %v %v", got.Config, err)
	}
}
