package obevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"custody/store"
)

// What an event means: the resource behind a resource-update (or revocation) link, read with
// the client's own token where Open Banking allows it, and parsed into what a person wants to
// know — the status, amount, creditor and dates — from the Read/Write data models.

// Notes stored instead of a status, when the resource was not read.
const (
	NoteNeedsConsent = "needs the customer's consent"
	NoteUnknown      = "not a resource Custody reads"
	NoteNoLink       = "the event names no resource link"
)

// paymentKinds are the payment order collections, read with a client-credentials token of
// scope payments.
var paymentKinds = map[string]bool{
	"domestic-payments": true, "domestic-scheduled-payments": true, "domestic-standing-orders": true,
	"international-payments": true, "international-scheduled-payments": true, "international-standing-orders": true,
	"file-payments": true, "domestic-vrps": true,
}

// consentScopes are the scopes of the client-credentials token that reads each consent
// collection.
var consentScopes = map[string]string{
	"domestic-payment-consents": "payments", "domestic-scheduled-payment-consents": "payments",
	"domestic-standing-order-consents": "payments", "international-payment-consents": "payments",
	"international-scheduled-payment-consents": "payments", "international-standing-order-consents": "payments",
	"file-payment-consents": "payments", "domestic-vrp-consents": "payments",
	"account-access-consents": "accounts", "funds-confirmation-consents": "fundsconfirmations",
}

// linkAccess says how Custody can read the resource an rlk link names: its collection (such
// as domestic-payments), the scope of the client-credentials token that reads it, or that it
// needs the customer's consent (account information), or neither (a resource Custody does
// not know).
type linkAccess struct {
	Kind     string
	Scope    string
	Consent  bool
	Readable bool
}

// classifyLink finds the collection of a resource link: the path segment before the id.
func classifyLink(link string) linkAccess {
	u, err := url.Parse(link)
	if err != nil {
		return linkAccess{}
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 2 {
		return linkAccess{}
	}
	kind := segs[len(segs)-2]
	if scope, ok := consentScopes[kind]; ok {
		return linkAccess{Kind: kind, Scope: scope, Readable: true}
	}
	if paymentKinds[kind] {
		return linkAccess{Kind: kind, Scope: "payments", Readable: true}
	}
	// Accounts, balances, transactions…: only with the customer's own token.
	for _, s := range segs {
		if s == "aisp" || s == "accounts" {
			return linkAccess{Kind: kind, Consent: true}
		}
	}
	return linkAccess{Kind: kind}
}

// isoStatus are the ISO 20022 status codes Open Banking 4.0 uses for payments, in the words
// of the 3.1 enumerations.
var isoStatus = map[string]string{
	"RCVD": "Received", "PDNG": "Pending", "ACTC": "AcceptedTechnicalValidation",
	"ACCP": "AcceptedCustomerProfile", "ACFC": "AcceptedFundsChecked", "ACWC": "AcceptedWithChange",
	"ACSP": "AcceptedSettlementInProcess", "ACSC": "AcceptedSettlementCompleted",
	"ACCC": "AcceptedCreditSettlementCompleted", "ACWP": "AcceptedWithoutPosting",
	"RJCT": "Rejected", "CANC": "Cancelled", "BLCK": "Blocked", "PART": "PartiallyAccepted",
	"PATC": "PartiallyAcceptedTechnicalCorrect",
	// Consents.
	"AWAU": "AwaitingAuthorisation", "AUTH": "Authorised", "COND": "Consumed",
}

// statusWords spells an ISO status code out ("AcceptedSettlementCompleted (ACSC)").
func statusWords(s string) string {
	if w, ok := isoStatus[s]; ok {
		return w + " (" + s + ")"
	}
	return s
}

// maxField bounds a text field taken from a resource.
const maxField = 140

// amount is an OB amount: {"Amount": "165.88", "Currency": "GBP"}; some examples nest it once
// more ({"Amount": {"Amount": …, "Currency": …}}) and some banks write the amount as a number.
type amount struct {
	Amount   json.RawMessage
	Currency string
}

func (a *amount) value() (string, string) {
	if a == nil || len(a.Amount) == 0 {
		return "", ""
	}
	var s string
	if json.Unmarshal(a.Amount, &s) == nil {
		return s, a.Currency
	}
	var n json.Number
	if json.Unmarshal(a.Amount, &n) == nil {
		return n.String(), a.Currency
	}
	var inner amount
	if json.Unmarshal(a.Amount, &inner) == nil && !bytes.HasPrefix(bytes.TrimSpace(inner.Amount), []byte("{")) {
		v, c := inner.value()
		if c == "" {
			c = a.Currency
		}
		return v, c
	}
	return "", ""
}

type party struct{ Name string }

// resourceDoc is the union of the fields of the payment and consent response models that say
// what happened (OBWriteDomesticResponse5, OBWriteDomesticScheduledResponse5,
// OBWriteDomesticStandingOrderResponse6, OBWriteInternationalResponse5, OBWriteFileResponse3,
// the consent responses, OBReadConsentResponse1, OBFundsConfirmationConsentResponse1,
// OBDomesticVRPConsentResponse).
type resourceDoc struct {
	Data *struct {
		Status                     string
		StatusCode                 string // the v4.0 account-access-consents page's name
		StatusUpdateDateTime       string
		CreationDateTime           string
		ExpectedExecutionDateTime  string
		ExpectedSettlementDateTime string
		ExpirationDateTime         string
		CutOffDateTime             string
		Initiation                 *struct {
			InstructedAmount           *amount
			FirstPaymentAmount         *amount
			RecurringPaymentAmount     *amount
			NextPaymentAmount          *amount
			CurrencyOfTransfer         string
			CreditorAccount            *party
			Creditor                   *party
			RequestedExecutionDateTime string
			RequestedExecutionDate     string
			FirstPaymentDateTime       string
			FinalPaymentDateTime       string
			Frequency                  string
			NumberOfTransactions       string
			ControlSum                 json.Number
		}
		ControlParameters *struct {
			MaximumIndividualAmount *amount
		}
		Instruction *struct {
			InstructedAmount *amount
			CreditorAccount  *party
		}
	}
}

// ParseResource reads a payment or consent resource as the bank answered it (kind is its
// collection, such as domestic-payments) into the state stored for the event.
func ParseResource(kind, rid string, body []byte) (store.ResourceState, error) {
	st := store.ResourceState{Kind: kind, RID: truncate(rid, maxField)}
	var doc resourceDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return st, fmt.Errorf("%s %s: not a readable Open Banking resource: %w", kind, rid, err)
	}
	if doc.Data == nil {
		return st, fmt.Errorf("%s %s: the answer has no Data", kind, rid)
	}
	d := doc.Data
	if d.Status == "" {
		d.Status = d.StatusCode
	}
	if d.Status == "" {
		return st, fmt.Errorf("%s %s: the answer has no Data.Status", kind, rid)
	}
	st.Status = truncate(statusWords(d.Status), maxField)
	st.StatusAt = parseTime(d.StatusUpdateDateTime)
	if st.StatusAt.IsZero() {
		st.StatusAt = parseTime(d.CreationDateTime)
	}
	var dates []string
	date := func(label, v string) {
		if t := parseTime(v); !t.IsZero() {
			dates = append(dates, label+" "+t.UTC().Format("2006-01-02"))
		}
	}
	date("created", d.CreationDateTime)
	date("expected execution", d.ExpectedExecutionDateTime)
	date("expected settlement", d.ExpectedSettlementDateTime)
	date("cut-off", d.CutOffDateTime)
	date("expires", d.ExpirationDateTime)
	setAmount := func(a *amount) bool {
		v, c := a.value()
		if v == "" {
			return false
		}
		st.Amount, st.Currency = truncate(v, 40), truncate(c, 8)
		return true
	}
	if in := d.Initiation; in != nil {
		_ = setAmount(in.InstructedAmount) || setAmount(in.RecurringPaymentAmount) || setAmount(in.NextPaymentAmount) || setAmount(in.FirstPaymentAmount)
		if st.Amount == "" && in.ControlSum != "" {
			st.Amount = truncate(in.ControlSum.String(), 40)
		}
		switch {
		case in.Creditor != nil && in.Creditor.Name != "":
			st.Creditor = in.Creditor.Name
		case in.CreditorAccount != nil:
			st.Creditor = in.CreditorAccount.Name
		}
		if in.CurrencyOfTransfer != "" && in.CurrencyOfTransfer != st.Currency {
			dates = append(dates, "paid out in "+truncate(in.CurrencyOfTransfer, 8))
		}
		if in.NumberOfTransactions != "" {
			dates = append(dates, truncate(in.NumberOfTransactions, 20)+" payments in the file")
		}
		date("requested execution", in.RequestedExecutionDateTime)
		date("requested execution", in.RequestedExecutionDate)
		date("first payment", in.FirstPaymentDateTime)
		date("final payment", in.FinalPaymentDateTime)
		if in.Frequency != "" {
			dates = append(dates, "frequency "+truncate(in.Frequency, 40))
		}
	}
	if in := d.Instruction; in != nil && st.Amount == "" {
		setAmount(in.InstructedAmount)
		if in.CreditorAccount != nil && st.Creditor == "" {
			st.Creditor = in.CreditorAccount.Name
		}
	}
	if cp := d.ControlParameters; cp != nil && st.Amount == "" {
		if setAmount(cp.MaximumIndividualAmount) {
			st.Amount = "up to " + st.Amount
		}
	}
	st.Creditor = truncate(strings.TrimSpace(st.Creditor), maxField)
	st.Dates = strings.Join(dates, "; ")
	return st, nil
}

// parseTime reads an ISODateTime as Open Banking writes it (RFC 3339, with or without
// seconds' fraction, or a bare date); the zero time when it cannot.
func parseTime(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0)
	}
	return time.Time{}
}
