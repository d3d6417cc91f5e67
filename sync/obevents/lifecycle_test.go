package obevents

import (
	"context"
	"slices"
	"strings"
	"testing"

	"custody/sync/obevents/obtest"
)

// TestRemoveDeletesSubscription: Remove deletes the subscription a sync made, with a signed
// FAPI client, and says so; at a bank with none it says that instead.
func TestRemoveDeletesSubscription(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: 3, InvalidEvery: -1}, obtest.TokenAuthJWT)
	d := NewDriver()
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	subs := r.sim.Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("subscriptions %+v", subs)
	}
	msg, err := d.Remove(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "deleted the event subscription "+subs[0].EventSubscriptionID) {
		t.Fatalf("remove: %q %v", msg, err)
	}
	if left := r.sim.Subscriptions(); len(left) != 0 {
		t.Fatalf("still at the bank: %+v", left)
	}
	msg, err = d.Remove(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "no event subscription") {
		t.Fatalf("second remove: %q %v", msg, err)
	}
	r.job.Source.Config[CfgSubscription] = "none"
	before := r.sim.Requests("/event-subscriptions")
	if msg, err := d.Remove(context.Background(), r.job); err != nil || !strings.Contains(msg, "--no-subscription") || r.sim.Requests("/event-subscriptions") != before {
		t.Fatalf("no-subscription remove: %q %v", msg, err)
	}
}

// TestRemoveSaysWhyNot: when the bank cannot be reached or refuses, Remove returns the reason.
func TestRemoveSaysWhyNot(t *testing.T) {
	r := newRig(t, obtest.Options{Events: -1})
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.sim.InjectFault("/event-subscriptions", obtest.Fault{Status: 503})
	_, err := NewDriver().Remove(context.Background(), r.job)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %v, want the bank's 503", err)
	}
	if len(r.sim.Subscriptions()) != 1 {
		t.Fatal("deleted despite the fault")
	}
}

// TestCallbackURLFallback: at a bank whose event-subscriptions answer 404, a source with a
// push target registers it through the Callback URL API (signed), updates it when it
// changes, and deletes it on Remove; without a push target it only polls.
func TestCallbackURLFallback(t *testing.T) {
	r := newFAPIRig(t, obtest.Options{Events: 4, InvalidEvery: -1, NoEventSubscriptionAPI: true}, obtest.TokenAuthTLS)
	d := NewDriver()
	first := "https://tpp.example/open-banking/v3.1/event-notifications"
	r.job.Source.Config[CfgCallbackURL] = first
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatalf("sync: %v (%v)", err, r.sim.Refusals())
	}
	r.checkDrained(t)
	if got := r.sim.CallbackURLs(); !slices.Equal(got, []string{first}) {
		t.Fatalf("callback URLs %v", got)
	}
	if len(r.sim.Subscriptions()) != 0 {
		t.Fatal("an event subscription at a bank without the API")
	}
	second := "https://relay.example/me/open-banking/v3.1/event-notifications"
	r.job.Source.Config[CfgCallbackURL] = second
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.CallbackURLs(); !slices.Equal(got, []string{second}) {
		t.Fatalf("after the change: %v, want only %s (updated, not a second one)", got, second)
	}
	if n := r.sim.SignedRequests(); n != 2 {
		t.Errorf("%d signed callback-url requests, want 2 (POST, PUT)", n)
	}
	msg, err := d.Remove(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "deleted the callback URL") {
		t.Fatalf("remove: %q %v", msg, err)
	}
	if got := r.sim.CallbackURLs(); len(got) != 0 {
		t.Fatalf("callback URLs after remove: %v", got)
	}

	// No push target: polling only, nothing registered.
	delete(r.job.Source.Config, CfgCallbackURL)
	r.sim.Generate()
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.CallbackURLs(); len(got) != 0 {
		t.Fatalf("registered %v without a push target", got)
	}
	r.checkDrained(t)
}

// TestSubscriptionVersionSetting: the subscription's Version is the setting when given, else
// the base URL's version; changing it updates the one subscription.
func TestSubscriptionVersionSetting(t *testing.T) {
	r := newRig(t, obtest.Options{Events: -1})
	d := NewDriver()
	for _, tt := range []struct{ setting, want string }{{"", "3.1"}, {"3.1.10", "3.1.10"}, {"4.0", "4.0"}} {
		if tt.setting == "" {
			delete(r.job.Source.Config, CfgSubscriptionVersion)
		} else {
			r.job.Source.Config[CfgSubscriptionVersion] = tt.setting
		}
		if _, err := d.Sync(context.Background(), r.job); err != nil {
			t.Fatal(err)
		}
		if subs := r.sim.Subscriptions(); len(subs) != 1 || subs[0].Version != tt.want {
			t.Fatalf("setting %q: subscriptions %+v, want one with Version %s", tt.setting, subs, tt.want)
		}
	}
}

// TestCallbackURLFallbackOn405: a bank that answers 405 to the event-subscriptions API gets
// the push target registered as a callback URL too.
func TestCallbackURLFallbackOn405(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 2, InvalidEvery: -1})
	r.job.Source.Config[CfgCallbackURL] = "https://tpp.example/open-banking/v3.1/event-notifications"
	r.sim.InjectFault("/event-subscriptions", obtest.Fault{Status: 405, Body: " "})
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.CallbackURLs(); len(got) != 1 || len(r.sim.Subscriptions()) != 0 {
		t.Fatalf("callback URLs %v, subscriptions %v", got, r.sim.Subscriptions())
	}
	r.checkDrained(t)
}
