package obevents

import (
	"testing"

	"custody/store"
	"custody/sync/notify"
)

// TestNotifyPath keeps the path users gave their bank as the event subscription's callback:
// changing it would silently lose notifications.
func TestNotifyPath(t *testing.T) {
	if got := notify.DefaultPath(store.Source{Name: "my bank", Kind: "obevents"}); got != "/my%20bank/event-notifications" {
		t.Errorf("notification path %q, want /my%%20bank/event-notifications", got)
	}
}
