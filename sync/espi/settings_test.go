package espi

import (
	"testing"

	"custody/store"
	"custody/sync/notify"
)

// TestNotifyPath keeps the path users gave their utility as the notification URL: changing it
// would silently lose notifications.
func TestNotifyPath(t *testing.T) {
	if got := notify.DefaultPath(store.Source{Name: "pge", Kind: Kind}); got != "/espi/notify/pge" {
		t.Errorf("notification path %q, want /espi/notify/pge", got)
	}
}
