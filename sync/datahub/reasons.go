package datahub

import (
	"strings"

	"custody/store"
)

// reasonWords are DataHub's business-validation reason codes (reference datahub3.md §5) in
// plain words, saying what to change where that is known.
var reasonWords = map[string]string{
	"E0H": "DataHub has no data for what was asked (yet): check the period, grid area and parties, or ask again after the settlement has run",
	"E16": "the energy supplier is not valid for this request or does not match you",
	"E18": "the balance responsible party is not valid for this request or does not match you",
	"D11": "your market role may not ask for this (a balance responsible party may ask only for D03 and D04)",
	"D64": "the grid area is required for your market role",
	"E86": "the grid area or settlement version is not valid (or a quantity has the wrong sign)",
	"E17": "the period is too long (at most one month) or too old (at most 3 years and 6 months)",
	"E50": "the start or end of the period is missing or not valid",
	"D66": "the period must start and end at Danish midnight (T22:00Z in summer, T23:00Z in winter)",
	"D15": "a settlement method may be given only with consumption (E17) and D01 or E02",
	"E10": "the metering point does not exist",
	"D50": "you are not the owner of the metering point",
	"D16": "the metering point's connection state does not allow it",
	"D18": "the metering point type is wrong",
	"D23": "the resolution is wrong",
	"D37": "the metering point sub type is wrong",
	"E73": "the unit is wrong",
	"E87": "positions are missing, duplicated or too many",
	"D12": "a quality code is not valid",
	"E89": "a quantity has too many digits (at most 10 before and 3 after the decimal point)",
}

// ExplainReason says a reason in plain words: the code, what it means, and DataHub's own text
// (the English half of its bilingual "Danish / English" text).
func ExplainReason(r store.Reason) string {
	text := strings.TrimSpace(r.Text)
	if i := strings.LastIndex(text, " / "); i >= 0 {
		text = strings.TrimSpace(text[i+3:])
	}
	words := reasonWords[strings.ToUpper(strings.TrimSpace(r.Code))]
	switch {
	case words != "" && text != "":
		return r.Code + ": " + words + " (DataHub: " + text + ")"
	case words != "":
		return r.Code + ": " + words
	case text != "":
		return r.Code + ": " + text
	}
	return r.Code
}

// isRejection says whether a document refuses what it answers: a reject (type ERR, reason A02)
// or an acknowledgement with reasons.
func (d *Document) isRejection() bool {
	return d.Type == "ERR" || d.ReasonCode == "A02" || strings.HasPrefix(d.Root, "Reject") ||
		(strings.HasPrefix(d.Root, "Acknowledgement") && len(d.Reasons()) > 0)
}
