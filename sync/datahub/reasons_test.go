package datahub

import (
	"testing"

	"custody/store"
)

func TestExplainReason(t *testing.T) {
	for _, c := range []struct {
		r    store.Reason
		want string
	}{
		{store.Reason{Code: "E0H", Text: "Ingen data tilgængelig / No data available"},
			"E0H: DataHub has no data for what was asked (yet): check the period, grid area and parties, or ask again after the settlement has run (DataHub: No data available)"},
		{store.Reason{Code: "D66"}, "D66: the period must start and end at Danish midnight (T22:00Z in summer, T23:00Z in winter)"},
		{store.Reason{Code: "X12", Text: "Noget / Something"}, "X12: Something"},
		{store.Reason{Code: "X13"}, "X13"},
	} {
		if got := ExplainReason(c.r); got != c.want {
			t.Errorf("ExplainReason(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}
