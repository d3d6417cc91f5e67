package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"custody/store"
	"custody/sync/engine"
)

// notifier sends desktop notifications for new data, failures that need the user and
// credentials about to expire, at most once an hour for the same thing.
type notifier struct {
	a    fyne.App
	s    *Settings
	now  func() time.Time
	last map[string]engine.Status
	sent map[string]time.Time
	// secretOf, when set, names a kind's secret and where a new one is made (its Secret
	// setting's Label and Link), for the reminders.
	secretOf func(kind string) (label, link string)
}

func newNotifier(a fyne.App, s *Settings, now func() time.Time) *notifier {
	return &notifier{a: a, s: s, now: now, last: map[string]engine.Status{}, sent: map[string]time.Time{}}
}

func (n *notifier) send(key, title, content string) {
	if !n.s.Notifications() {
		return
	}
	if t, ok := n.sent[key]; ok && n.now().Sub(t) < time.Hour {
		return
	}
	n.sent[key] = n.now()
	n.a.SendNotification(fyne.NewNotification(title, content))
}

// status notes one engine status and reports whether it brought new data.
func (n *notifier) status(st engine.Status) (newData bool) {
	prev, had := n.last[st.Source]
	n.last[st.Source] = st
	if st.LastSuccess.After(prev.LastSuccess) && (st.LastResult.Items > 0 || st.LastResult.Readings > 0) {
		newData = true
		what := st.LastResult.Note
		if what == "" {
			what = fmt.Sprintf("%d items, %d readings", st.LastResult.Items, st.LastResult.Readings)
		}
		if had { // the first status after start is old news
			n.send("new/"+st.Source, "New data from "+st.Source, what)
		}
	}
	if st.State == engine.StateAttention && prev.State != engine.StateAttention {
		msg := st.LastError
		if st.Advice != "" {
			msg = st.Advice
		}
		n.send("attention/"+st.Source, st.Source+" needs your attention", msg)
	}
	if st.State == engine.StateBackoff && st.Failures >= 3 && prev.Failures < 3 {
		n.send("failing/"+st.Source, st.Source+" keeps failing", st.LastError+" — Custody keeps retrying.")
	}
	return newData
}

// expiryWarning is how long before a client secret (or an Eloverblik refresh token, whose
// expiry is read from it) expires the user is reminded: a month, time enough to make a new one.
const expiryWarning = 30 * 24 * time.Hour

// credentials reminds the user of client secrets that expire soon or have expired.
func (n *notifier) credentials(srcs []store.Source) {
	now := n.now()
	for _, s := range srcs {
		v := s.Config["secret_expires"]
		if v == "" || !s.Enabled {
			continue
		}
		exp, err := time.ParseInLocation(time.DateOnly, v, time.Local)
		if err != nil {
			continue
		}
		what, ask := "client secret", "Ask the custodian for a new one"
		if n.secretOf != nil {
			if label, link := n.secretOf(s.Kind); label != "" {
				what = strings.ToLower(label)
				if link != "" {
					ask = "Make a new one at " + link
				}
			}
		}
		switch left := exp.Sub(now); {
		case left < 0:
			n.send("expiry/"+s.Name, "The "+what+" of "+s.Name+" has expired",
				ask+" and enter it under Sources > Edit.")
		case left < expiryWarning:
			n.send("expiry/"+s.Name, "The "+what+" of "+s.Name+" expires soon",
				fmt.Sprintf("It expires on %s. %s and enter it under Sources > Edit.", exp.Format("2 Jan 2006"), ask))
		}
	}
}
