package obtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Resources of the simulated bank, shaped as the Open Banking Read/Write specification's
// examples shape them (docs/v3.1.10/references/usage-examples of OpenBankingUK's
// read-write-api-docs-pub): what Custody reads when it follows an event's link.

// Resource is what a simulated payment order or consent holds; the zero values of Amount,
// Currency and Creditor get example values.
type Resource struct {
	Kind     string // the collection, such as domestic-payments or account-access-consents
	ID       string
	Status   string
	Amount   string
	Currency string
	Creditor string
	// At is the StatusUpdateDateTime; default the bank's now.
	At time.Time
}

// areaOf is the API area of a collection.
func areaOf(kind string) string {
	switch {
	case kind == "account-access-consents" || kind == "accounts":
		return "aisp"
	case kind == "funds-confirmation-consents":
		return "cbpii"
	}
	return "pisp"
}

// idField is the name of a collection's id in Data.
func idField(kind string) string {
	if strings.HasSuffix(kind, "-consents") {
		return "ConsentId"
	}
	m := map[string]string{
		"domestic-payments": "DomesticPaymentId", "domestic-scheduled-payments": "DomesticScheduledPaymentId",
		"domestic-standing-orders": "DomesticStandingOrderId", "international-payments": "InternationalPaymentId",
		"international-scheduled-payments": "InternationalScheduledPaymentId",
		"international-standing-orders":    "InternationalStandingOrderId", "file-payments": "FilePaymentId",
		"accounts": "AccountId",
	}
	if f, ok := m[kind]; ok {
		return f
	}
	return "Id"
}

// body renders the resource as the bank answers GET on it.
func (res Resource) body(self string) string {
	if res.Amount == "" {
		res.Amount = "165.88"
	}
	if res.Currency == "" {
		res.Currency = "GBP"
	}
	if res.Creditor == "" {
		res.Creditor = "ACME Inc"
	}
	at := res.At.UTC().Format("2006-01-02T15:04:05+00:00")
	created := res.At.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05+00:00")
	creditor := map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "08080021325698", "Name": res.Creditor}
	amount := map[string]string{"Amount": res.Amount, "Currency": res.Currency}
	data := map[string]any{idField(res.Kind): res.ID, "Status": res.Status, "CreationDateTime": created, "StatusUpdateDateTime": at}
	switch res.Kind {
	case "domestic-payments", "domestic-payment-consents":
		data["Initiation"] = map[string]any{"InstructionIdentification": "ACME412", "EndToEndIdentification": "FRESCO.21302.GFX.20",
			"InstructedAmount": amount, "CreditorAccount": creditor,
			"RemittanceInformation": map[string]string{"Reference": "FRESCO-101"}}
	case "domestic-scheduled-payments":
		data["Initiation"] = map[string]any{"InstructionIdentification": "ACME412", "EndToEndIdentification": "FRESCO.21302.GFX.20",
			"RequestedExecutionDateTime": res.At.Add(72 * time.Hour).UTC().Format("2006-01-02T15:04:05+00:00"),
			"InstructedAmount":           amount, "CreditorAccount": creditor}
	case "domestic-standing-orders":
		data["Initiation"] = map[string]any{"Frequency": "EvryDay", "Reference": "Pocket money for Damien",
			"FirstPaymentDateTime": created, "FirstPaymentAmount": amount, "RecurringPaymentAmount": amount, "CreditorAccount": creditor}
	case "international-payments", "international-scheduled-payments":
		data["Initiation"] = map[string]any{"InstructionIdentification": "ACME412", "EndToEndIdentification": "FRESCO.21302.GFX.20",
			"InstructedAmount": amount, "CurrencyOfTransfer": "USD", "Creditor": map[string]string{"Name": res.Creditor}, "CreditorAccount": creditor}
	case "file-payments":
		data["Initiation"] = map[string]any{"FileType": "UK.OBIE.PaymentInitiation.3.1", "FileHash": "m5ah/h1UjLvJYMxqAoZmj9dKdjZnsGNm+yMkJp/KuqQ",
			"NumberOfTransactions": "3", "ControlSum": 500.00}
	case "domestic-vrp-consents":
		data["ControlParameters"] = map[string]any{"MaximumIndividualAmount": amount, "PeriodicLimits": []any{}}
	case "account-access-consents":
		data["Permissions"] = []string{"ReadAccountsDetail", "ReadBalances"}
		data["ExpirationDateTime"] = res.At.Add(90 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05+00:00")
	case "funds-confirmation-consents":
		data["DebtorAccount"] = map[string]string{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "11280001234567"}
	case "accounts":
		data = map[string]any{"Account": []any{map[string]any{"AccountId": res.ID, "Currency": "GBP", "AccountType": "Personal"}}}
	}
	b, _ := json.Marshal(map[string]any{"Data": data, "Links": map[string]string{"Self": self}, "Meta": map[string]any{}})
	return string(b)
}

// defaultStatus is the status a generated resource of the collection has.
func defaultStatus(kind string) string {
	switch {
	case kind == "domestic-payments" || kind == "international-payments":
		return "AcceptedSettlementCompleted"
	case kind == "domestic-scheduled-payments" || kind == "domestic-standing-orders" || kind == "file-payments":
		return "InitiationCompleted"
	case strings.HasSuffix(kind, "-consents"):
		return "Revoked"
	}
	return "Enabled"
}

// SetResource makes the bank hold the resource (replacing its earlier state) and queues a
// valid resource-update event about it, as a bank does when a payment's status changes. It
// returns the event's jti.
func (s *Server) SetResource(res Resource) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.At.IsZero() {
		res.At = s.opts.Now()
	}
	path := resourcePath(areaOf(res.Kind)+"/"+res.Kind, res.ID)
	s.resources[path] = res.body(s.url + path)
	s.generated++
	sh := eventShape{types: []string{"urn:uk:org:openbanking:events:resource-update"},
		rty: strings.TrimSuffix(res.Kind, "s"), area: areaOf(res.Kind) + "/" + res.Kind}
	token, jti, err := s.mintShapeLocked(s.generated, sh, res.ID, "", false)
	if err != nil {
		return "", fmt.Errorf("obtest: sign event: %w", err)
	}
	s.queue = append(s.queue, queued{JTI: jti, Token: token, Valid: true})
	return jti, nil
}
