package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/eloverblik"
	"custody/sync/eloverblik/eloverbliktest"
)

// TestEloverblikSourceForm: the form made from the eloverblik description links to where the
// refresh token is made, refuses a token that is not one, and keeps the day a good one expires.
func TestEloverblikSourceForm(t *testing.T) {
	h := newHarness(t, 0)
	h.m.deps.Kinds = append(h.m.deps.Kinds, eloverblik.NewDriver().Describe())
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	f := v.newForm(store.Source{Kind: "eloverblik", Config: map[string]string{}}, true)
	f.dlg.Show()
	var link *widget.Hyperlink
	for _, o := range test.LaidOutObjects(h.m.Window.Canvas().Overlays().Top()) {
		if l, ok := o.(*widget.Hyperlink); ok {
			link = l
		}
	}
	if link == nil || link.URL.String() != eloverblik.TokenPortal {
		t.Fatalf("no link to where the token is made: %v", link)
	}
	f.name.SetText("home")
	f.secrets[eloverblik.SecretField].SetText("not-a-token")
	f.save()
	if !strings.Contains(f.errLbl.Text, "refresh token: the token is not a JWT") {
		t.Fatalf("a wrong token: %q", f.errLbl.Text)
	}
	exp := time.Now().AddDate(0, 11, 0)
	token := eloverbliktest.New(eloverbliktest.Options{}).RefreshToken(exp)
	f.secrets[eloverblik.SecretField].SetText(token)
	f.save()
	h.m.Wait()
	src, err := h.st.SourceByName(context.Background(), "home")
	if err != nil || src.Config["secret_expires"] != exp.Format(time.DateOnly) {
		t.Fatalf("stored %+v, %v", src, err)
	}
	if h.secrets.m["home/"+eloverblik.SecretField] != token {
		t.Error("the token did not reach the keyring")
	}
	if d := h.m.sourceDetail(src); !strings.Contains(d, "Refresh token expires: "+exp.Format(time.DateOnly)) {
		t.Errorf("detail:\n%s", d)
	}
	// A month ahead, the reminder names the refresh token and where a new one is made.
	soon := testNow.AddDate(0, 0, 25)
	srcs := []store.Source{{Name: "home", Kind: "eloverblik", Enabled: true, Config: map[string]string{"secret_expires": soon.Format(time.DateOnly)}}}
	test.AssertNotificationSent(t, fyne.NewNotification("The refresh token of home expires soon",
		"It expires on "+soon.Format("2 Jan 2006")+". Make a new one at https://eloverblik.dk and enter it under Sources > Edit."),
		func() { h.m.notifier.credentials(srcs) })
}

// TestUsageEstimatedTariffCost: a meter with Eloverblik tariffs shows them beside its usage,
// and an estimated cost per hour that says the spot price is not in it.
func TestUsageEstimatedTariffCost(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	tx, err := h.st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := store.Meter{Key: "571313174100000012", Name: "Ahornvej 7, 8600 Silkeborg · consumption", Commodity: "electricity", TimeZone: "Europe/Copenhagen"}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	sr := store.Series{MeterID: m.ID, Key: "eloverblik/A04/PT1H/kWh", Commodity: "electricity", Flow: "forward", Unit: "kWh", Kind: "energy", Seconds: 3600}
	if err := tx.UpsertSeries(&sr); err != nil {
		t.Fatal(err)
	}
	var rs []store.Reading
	start := testNow.Truncate(24*time.Hour).AddDate(0, 0, -2)
	for i := range 48 {
		rs = append(rs, store.Reading{Start: start.Add(time.Duration(i) * time.Hour).Unix(), Seconds: 3600, Value: 1, Quality: "A04"})
	}
	if err := tx.PutReadings(sr.ID, rs); err != nil {
		t.Fatal(err)
	}
	hourly := make([]float64, 24)
	for i := range hourly {
		hourly[i] = 0.1
	}
	hourly[18] = 0.5 // 18-19 local
	if err := tx.ReplaceCharges(m.ID, []store.Charge{
		{Kind: "tariff", Name: "Nettarif C time", Prices: hourly, Period: "P1H"},
		{Kind: "tariff", Name: "Elafgift", Prices: []float64{0.72}, Period: "P1D"},
		{Kind: "subscription", Name: "Netabonnement C", Prices: []float64{23.2}, Quantity: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	u := h.m.views[ViewUsage].(*usageView)
	test.Type(u.search, "Ahornvej")
	h.m.Wait()
	u.list.Select(0) // the search lists it; picking it shows it
	h.m.Wait()
	if u.meter.Key != m.Key {
		t.Fatalf("showing %q", u.meter.Name)
	}
	// 48 hours of 1 kWh: 46 × (0.1 + 0.72) + 2 × (0.5 + 0.72) = 40.16 DKK.
	var estimate string
	for _, c := range u.cardData {
		if c.title == "Tariffs (estimate)" {
			estimate = c.value
		}
	}
	if estimate != "≈ 40.16 DKK" || !strings.Contains(u.totals.Text, "spot) price and VAT are not included") {
		t.Errorf("estimate card %q, caption %q", estimate, u.totals.Text)
	}
	var cost bool
	for _, s := range u.chart.Series() {
		cost = cost || (strings.HasSuffix(s.Name, "≈ tariffs") && s.Unit == "DKK")
	}
	if !cost {
		t.Error("no estimated cost on the chart")
	}
	var lines []string
	for _, row := range u.billRows {
		lines = append(lines, strings.Join(row, " "))
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"Prices that apply", "Nettarif C time  0.1000–0.5000 DKK/kWh by hour of the day", "Elafgift  0.7200 DKK/kWh", "Netabonnement C  (subscription) 23.20 DKK"} {
		if !strings.Contains(all, want) {
			t.Errorf("the prices lack %q:\n%s", want, all)
		}
	}
}
