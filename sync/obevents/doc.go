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

// PollRequest is the body of POST /events (OBEventPolling1, RFC 8936 §2.4).
type PollRequest struct {
	MaxEvents         *int              `json:"maxEvents,omitempty"`
	ReturnImmediately bool              `json:"returnImmediately"`
	Ack               []string          `json:"ack,omitempty"`
	SetErrs           map[string]SetErr `json:"setErrs,omitempty"`
}

// SetErr is one negative acknowledgement.
type SetErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// PollResponse is the answer of POST /events (OBEventPollingResponse1). A missing
// moreAvailable means false.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}
