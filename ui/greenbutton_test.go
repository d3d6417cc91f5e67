package ui

import (
	"context"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"custody/store"
)

// fakeGreenButton records what the Sources view asks of a Green Button source.
type fakeGreenButton struct {
	mu        sync.Mutex
	tests     int
	connected string
}

func (f *fakeGreenButton) Connect(_ context.Context, source string, open func(string)) (string, error) {
	open("https://utility.example/authorize?client_id=c&state=s")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = source
	return "Connected " + source + " to the customer's account: subscription 5001.", nil
}

func (f *fakeGreenButton) Listener(_ context.Context, source string) (ListenerInfo, error) {
	return ListenerInfo{Configured: true, Running: true, RegisterURL: "https://custody.example:8443/espi/notify/" + source}, nil
}

func (f *fakeGreenButton) TestNotification(_ context.Context, source string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tests++
	return "POSTed a BatchList to https://127.0.0.1:8443/espi/notify/" + source + " over HTTPS (TLS 1.3): 200 OK in 3ms.", nil
}

func (f *fakeGreenButton) Authorizations(context.Context, string) (string, error) {
	return "Authorization 2: revoked since 2026-06-10, subscription id 5001", nil
}

// TestSourcesGreenButtonPanel: a Green Button source with a listener and an authorize URL
// shows the URL to register, what the custodian said, and the Connect… and Test notification
// buttons, whose results show in the view; other kinds show none of it.
func TestSourcesGreenButtonPanel(t *testing.T) {
	h := newHarness(t, 0)
	gb := &fakeGreenButton{}
	h.m.deps.GreenButton = gb
	ctx := context.Background()
	src := store.Source{Name: "pge", Kind: "greenbutton", Enabled: true, Config: map[string]string{
		"base_url": "https://utility.example/espi/1_1/resource", "token_url": "https://utility.example/token", "client_id": "c",
		"authorize_url": "https://utility.example/authorize", "notify_listen": ":8443"}}
	if err := h.st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	v.reload()
	h.m.Wait()
	pick := func(name string) {
		for i, s := range v.sources {
			if s.Name == name {
				v.list.Select(i)
			}
		}
		h.m.Wait()
	}
	pick("pge")
	if !v.gb.box.Visible() || !v.gb.connect.Visible() || !v.gb.testN.Visible() {
		t.Fatal("the Green Button panel is not shown")
	}
	if txt := v.gb.info.Text; !strings.Contains(txt, "Register this Notification URI with the utility: https://custody.example:8443/espi/notify/pge") ||
		!strings.Contains(txt, "revoked since 2026-06-10") {
		t.Fatalf("panel: %q", txt)
	}
	test.Tap(v.gb.testN)
	h.m.Wait()
	if gb.tests != 1 || !strings.Contains(v.result.Text, "200 OK") {
		t.Fatalf("test notification: %d, %q", gb.tests, v.result.Text)
	}
	test.Tap(v.gb.connect)
	h.m.Wait()
	if gb.connected != "pge" || !strings.Contains(v.result.Text, "subscription 5001") {
		t.Fatalf("connect: %q, %q", gb.connected, v.result.Text)
	}
	for _, s := range v.sources {
		if s.Kind == "obevents" {
			pick(s.Name)
			if v.gb.box.Visible() {
				t.Fatal("the Green Button panel shows on an Open Banking source")
			}
		}
	}
}
