package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ResourceState is what the resource behind an Open Banking event said when it was fetched:
// a payment's or consent's status, amount, creditor and dates. Note says why there is no
// status (an account-information resource needs the customer's consent; the bank refused).
type ResourceState struct {
	ID        int64
	EventID   int64
	SourceID  int64
	RID       string
	Kind      string // the resource collection, such as domestic-payments
	Status    string
	StatusAt  time.Time
	Amount    string
	Currency  string
	Creditor  string
	Dates     string
	Note      string
	Fetched   time.Time
	PayloadID int64
}

// kindNames are how a person calls each resource collection.
var kindNames = map[string]string{
	"domestic-payments":                        "Domestic payment",
	"domestic-scheduled-payments":              "Domestic scheduled payment",
	"domestic-standing-orders":                 "Domestic standing order",
	"international-payments":                   "International payment",
	"international-scheduled-payments":         "International scheduled payment",
	"international-standing-orders":            "International standing order",
	"file-payments":                            "File payment",
	"domestic-vrps":                            "Domestic VRP payment",
	"domestic-payment-consents":                "Domestic payment consent",
	"domestic-scheduled-payment-consents":      "Domestic scheduled payment consent",
	"domestic-standing-order-consents":         "Domestic standing order consent",
	"international-payment-consents":           "International payment consent",
	"international-scheduled-payment-consents": "International scheduled payment consent",
	"international-standing-order-consents":    "International standing order consent",
	"file-payment-consents":                    "File payment consent",
	"domestic-vrp-consents":                    "Domestic VRP consent",
	"account-access-consents":                  "Account access consent",
	"funds-confirmation-consents":              "Funds confirmation consent",
	"accounts":                                 "Account",
}

// KindName is how a person calls a resource collection ("Domestic payment").
func KindName(kind string) string {
	if n, ok := kindNames[kind]; ok {
		return n
	}
	if kind == "" {
		return "Resource"
	}
	return "Resource " + kind
}

// Sentence says in plain words what happened to the resource, such as "Domestic payment
// dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted at 10:02"; the time is in loc,
// with the date when it is not the day of now.
func (r ResourceState) Sentence(loc *time.Location, now time.Time) string {
	var b strings.Builder
	b.WriteString(KindName(r.Kind))
	if r.RID != "" {
		b.WriteString(" " + r.RID)
	}
	if r.Amount != "" {
		b.WriteString(" of " + strings.TrimSpace(r.Amount+" "+r.Currency))
	}
	if r.Creditor != "" {
		b.WriteString(" to " + r.Creditor)
	}
	switch {
	case r.Status != "":
		b.WriteString(": " + r.Status)
		if !r.StatusAt.IsZero() {
			t, n := r.StatusAt.In(loc), now.In(loc)
			b.WriteString(" at " + t.Format("15:04"))
			if t.YearDay() != n.YearDay() || t.Year() != n.Year() {
				b.WriteString(" on " + t.Format("2006-01-02"))
			}
		}
	case r.Note != "":
		b.WriteString(": " + r.Note)
	}
	return b.String()
}

// PutResourceState stores the state of an event's resource, replacing an earlier one of the
// same event.
func (t *Tx) PutResourceState(r *ResourceState) error {
	if r.Fetched.IsZero() {
		r.Fetched = t.s.Now()
	}
	err := t.queryRow(`INSERT INTO ob_resource_states (event_id, source_id, rid, kind, status, status_time, amount, currency,
			creditor, dates, note, fetched, payload_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET source_id = excluded.source_id, rid = excluded.rid, kind = excluded.kind,
			status = excluded.status, status_time = excluded.status_time, amount = excluded.amount,
			currency = excluded.currency, creditor = excluded.creditor, dates = excluded.dates, note = excluded.note,
			fetched = excluded.fetched, payload_id = excluded.payload_id
		RETURNING id`,
		r.EventID, nullSource(r.SourceID), r.RID, r.Kind, r.Status, nullTime(r.StatusAt), r.Amount, r.Currency,
		r.Creditor, r.Dates, r.Note, r.Fetched.Unix(), nullSource(r.PayloadID)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("put resource state of event %d: %w", r.EventID, err)
	}
	return nil
}

const resourceStateColumns = `r.id, r.event_id, COALESCE(r.source_id, 0), r.rid, r.kind, r.status, COALESCE(r.status_time, 0),
	r.amount, r.currency, r.creditor, r.dates, r.note, r.fetched, COALESCE(r.payload_id, 0)`

func scanResourceState(sc interface{ Scan(...any) error }) (ResourceState, error) {
	var r ResourceState
	var at, fetched int64
	err := sc.Scan(&r.ID, &r.EventID, &r.SourceID, &r.RID, &r.Kind, &r.Status, &at, &r.Amount, &r.Currency,
		&r.Creditor, &r.Dates, &r.Note, &fetched, &r.PayloadID)
	r.StatusAt, r.Fetched = unixTime(at), unixTime(fetched)
	return r, err
}

// ResourceState returns the state stored for an event's resource; ok is false when there is
// none.
func (s *Store) ResourceState(ctx context.Context, eventID int64) (r ResourceState, ok bool, err error) {
	r, err = scanResourceState(s.db.QueryRowContext(ctx, `SELECT `+resourceStateColumns+` FROM ob_resource_states r WHERE r.event_id = ?`, eventID))
	switch {
	case err == sql.ErrNoRows:
		return r, false, nil
	case err != nil:
		return r, false, fmt.Errorf("resource state of event %d: %w", eventID, err)
	}
	return r, true, nil
}

// ResourceTimeline lists the states of one resource of a source, as the events about it
// found it, oldest first: the resource's status timeline.
func (s *Store) ResourceTimeline(ctx context.Context, sourceID int64, rid string) ([]ResourceState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+resourceStateColumns+` FROM ob_resource_states r
		WHERE r.source_id = ? AND r.rid = ? ORDER BY COALESCE(r.status_time, r.fetched), r.id`, sourceID, rid)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", rid, err)
	}
	defer rows.Close()
	var out []ResourceState
	for rows.Next() {
		r, err := scanResourceState(rows)
		if err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", rid, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
