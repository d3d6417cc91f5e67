package ui

import (
	"testing"

	"custody/store"
)

// TestSourceFormOpenBankingSettings: the edit form of an obevents source shows the Open
// Banking settings it has (so saving it does not drop them) and passes them to validation
// under the flag names of `custody sources add`.
func TestSourceFormOpenBankingSettings(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	src := store.Source{Name: "my-bank", Kind: "obevents", Config: map[string]string{
		"base_url": "https://bank.example/open-banking/v3.1", "org_id": "ORG1", "algs": "PS256,RS256",
		"error_codes": "draft", "max_events": "2", "event_types": `["UK.OBIE.Resource-Update","UK.OBIE.Consent-Access-Revoked"]`,
		"callback_url": "https://me.example/event-notifications", "subscription": "none", "follow": "true", "jti_window": "48h"}}
	var got map[string]string
	var gotTypes []string
	h.m.deps.Validate = func(kind, name string, get func(string) string, list func(string) []string) (store.Source, error) {
		got = map[string]string{}
		for _, f := range []string{"base-url", "org-id", "algs", "error-codes", "max-events", "callback-url", "no-subscription", "follow", "jti-window"} {
			got[f] = get(f)
		}
		gotTypes = list("event-types")
		return store.Source{Name: name, Kind: kind}, nil
	}
	f := v.newForm(src, false)
	if _, err := f.build(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"base-url": "https://bank.example/open-banking/v3.1", "org-id": "ORG1", "algs": "PS256,RS256",
		"error-codes": "draft", "max-events": "2", "callback-url": "https://me.example/event-notifications",
		"no-subscription": "true", "follow": "true", "jti-window": "48h"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if len(gotTypes) != 2 || gotTypes[0] != "UK.OBIE.Resource-Update" || gotTypes[1] != "UK.OBIE.Consent-Access-Revoked" {
		t.Errorf("event types %q", gotTypes)
	}

	// A source without them: the defaults, nothing ticked.
	f = v.newForm(store.Source{Name: "other", Kind: "obevents", Config: map[string]string{}}, false)
	if _, err := f.build(); err != nil {
		t.Fatal(err)
	}
	if got["error-codes"] != "rfc" || got["no-subscription"] != "false" || got["follow"] != "false" || got["max-events"] != "" || len(gotTypes) != 0 {
		t.Errorf("defaults: %v %q", got, gotTypes)
	}
}
