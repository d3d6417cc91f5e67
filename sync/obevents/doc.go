// Package obevents receives Open Banking UK event notifications for Custody: it manages the
// bank's event subscription, polls the aggregated polling endpoint (POST /events), receives
// real-time pushes, and verifies every security event token (SET) before it is stored.
//
// Every token received is archived and stored, rejected ones too with the reason. Positive
// (ack) and negative (setErrs) acknowledgements are written to the store in the same
// transaction as the events they concern and sent only after the commit, so a crash in between
// means they are sent on the next run. A temporary local failure (the bank's key set
// unreachable, the disk full) never produces a negative acknowledgement: the token comes again.
package obevents

// truncate shortens s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
