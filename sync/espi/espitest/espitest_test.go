package espitest

import (
	"bytes"
	"context"
	"custody/sync/internal/testkit"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"custody/sync/auth"
	"custody/sync/simtls"
)

func start(t *testing.T, opts Options) (*Server, *http.Client) {
	t.Helper()
	pki, err := simtls.New("espitest-client")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hc, err := auth.NewHTTPClient(auth.TLSConfig{CAPEM: pki.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mtls, err := auth.NewHTTPClient(auth.TLSConfig{CertFile: files.ClientCert, KeyFile: files.ClientKey, CAFile: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	// Without a client certificate the simulator refuses the handshake.
	if _, err := hc.Get(s.BaseURL() + "/ReadServiceStatus"); err == nil {
		t.Fatal("request without a client certificate was accepted")
	}
	return s, mtls
}

// count counts the IntervalReadings and their qualities in a feed, checking it is well formed.
func count(t *testing.T, body []byte) (readings int, quality map[string]int) {
	t.Helper()
	quality = map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(body))
	var last string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("feed not well formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			last = tok.Name.Local
			if tok.Name.Local == "IntervalReading" && tok.Name.Space == "http://naesb.org/espi" {
				readings++
			}
		case xml.CharData:
			if last == "quality" {
				quality[string(tok)]++
			}
			last = ""
		}
	}
}

// hourly returns the readings of the hourly import series (MeterReading 1) by start.
func hourly(t *testing.T, body []byte) map[int64]reading {
	t.Helper()
	var feed struct {
		Entries []struct {
			Links []struct {
				Rel  string `xml:"rel,attr"`
				Href string `xml:"href,attr"`
			} `xml:"link"`
			Readings []struct {
				Start   int64 `xml:"timePeriod>start"`
				Value   int64 `xml:"value"`
				Quality int   `xml:"ReadingQuality>quality"`
			} `xml:"content>IntervalBlock>IntervalReading"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(body, &feed); err != nil {
		t.Fatal(err)
	}
	out := map[int64]reading{}
	for _, e := range feed.Entries {
		if len(e.Links) == 0 || !strings.Contains(e.Links[0].Href, "/MeterReading/1/IntervalBlock/") {
			continue
		}
		for _, r := range e.Readings {
			out[r.Start] = reading{start: r.Start, value: r.Value, quality: r.Quality}
		}
	}
	return out
}

func TestSimulatorServesAdvancingAndCorrectedData(t *testing.T) {
	for _, format := range []string{"json", "xml"} {
		t.Run(format, func(t *testing.T) {
			clk := testkit.NewClock(time.Date(2026, 3, 10, 20, 30, 0, 0, time.UTC))
			s, hc := start(t, Options{TokenFormat: format, Now: clk.Now, Days: 3})
			src := auth.NewESPI(auth.Credentials{TokenURL: s.TokenURL(), ClientID: s.ClientID(), ClientSecret: s.Secret(), HTTPClient: hc})
			c, err := auth.NewClient(hc, src, s.BaseURL())
			if err != nil {
				t.Fatal(err)
			}
			get := func(path string) (int, []byte) {
				resp, err := c.Get(s.BaseURL() + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			code, body := get("/Batch/Bulk/" + s.BulkID())
			if code != 200 {
				t.Fatalf("bulk: %d %s", code, body)
			}
			n1, q1 := count(t, body)
			// 3 full days + today until 20:00 UTC (12 hours after 08:00): hourly ×2, 15-min, daily gas.
			if n1 < 3*(24+24+96+1) || q1["14"] == 0 || q1["17"] == 0 {
				t.Fatalf("readings %d, qualities %v", n1, q1)
			}
			before := hourly(t, body)
			clk.Add(13 * time.Hour)
			code, body = get("/Batch/Bulk/" + s.BulkID())
			n2, _ := count(t, body)
			after := hourly(t, body)
			// Yesterday (local) was raw and is now validated with corrected values; the newest
			// hours are new.
			yesterday := dayStart(clk.Now().Unix()) - 2*day + 12*3600
			if code != 200 || n2 == 0 || before[yesterday].quality != 14 || after[yesterday].quality != 17 || after[yesterday].value == before[yesterday].value {
				t.Fatalf("after 13 h: %d readings; reading at %d was %+v, is %+v", n2, yesterday, before[yesterday], after[yesterday])
			}
			latest := clk.Now().Truncate(time.Hour).Add(-time.Hour).Unix()
			if _, ok := before[latest]; ok || after[latest].quality != 14 {
				t.Fatalf("newest hour %d: before %v, after %+v", latest, ok, after[latest])
			}
			// A window keeps to what was published in it.
			code, body = get("/Batch/Bulk/" + s.BulkID() + "?published-min=" + clk.Now().Add(-2*time.Hour).Format(time.RFC3339))
			n3, _ := count(t, body)
			if code != 200 || n3 == 0 || n3 >= n2 {
				t.Fatalf("windowed: %d %d readings", code, n3)
			}
			if code, _ := get("/Batch/Bulk/" + s.BulkID() + "?published-min=yesterday"); code != 400 {
				t.Fatalf("bad window: %d", code)
			}
			if code, _ := get("/Batch/Bulk/999"); code != 404 {
				t.Fatalf("unknown bulk: %d", code)
			}
			code, body = get("/Batch/BulkRetailCustomerInfo/" + s.BulkID())
			if code != 200 || !bytes.Contains(body, []byte("ServiceLocation")) {
				t.Fatalf("customer: %d", code)
			}
			code, body = get("/Subscription/" + s.SubscriptionID() + "/UsagePoint/3/MeterReading/4/IntervalBlock")
			if n, _ := count(t, body); code != 200 || n != 3 {
				t.Fatalf("gas blocks: %d, %d readings", code, n)
			}
		})
	}
}

func TestSimulatorFaults(t *testing.T) {
	s, hc := start(t, Options{RetryAfter: 9 * time.Second, SlowDelay: time.Millisecond})
	src := auth.NewESPI(auth.Credentials{TokenURL: s.TokenURL(), ClientID: s.ClientID(), ClientSecret: s.Secret(), HTTPClient: hc})
	c, _ := auth.NewClient(hc, src, s.BaseURL())
	bulk := s.BaseURL() + "/Batch/Bulk/" + s.BulkID()
	tests := []struct {
		fault  Fault
		status int
		check  func(*http.Response, []byte, error) bool
	}{
		{FaultExpiredToken, 200, nil}, // the client refreshes and retries
		{FaultTooManyRequests, 429, func(r *http.Response, _ []byte, _ error) bool { return r.Header.Get("Retry-After") == "9" }},
		{FaultUnavailable, 503, func(r *http.Response, _ []byte, _ error) bool { return r.Header.Get("Retry-After") == "9" }},
		{FaultNotReady, 202, nil},
		{FaultSlowBody, 200, func(_ *http.Response, b []byte, err error) bool {
			return err == nil && bytes.HasSuffix(b, []byte("</feed>\n"))
		}},
		{FaultTruncatedBody, 200, func(_ *http.Response, _ []byte, err error) bool { return err != nil }},
		{FaultMalformed, 200, func(_ *http.Response, b []byte, _ error) bool { return bytes.Contains(b, []byte("<broken>")) }},
	}
	for _, tc := range tests {
		s.Inject(tc.fault)
		resp, err := c.Get(bulk)
		if err != nil {
			t.Fatalf("fault %d: %v", tc.fault, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.check != nil && !tc.check(resp, b, err)) {
			t.Fatalf("fault %d: status %d, err %v", tc.fault, resp.StatusCode, err)
		}
	}
	s.Inject(FaultRevoked)
	for range 2 {
		resp, err := c.Get(bulk)
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("revoked: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	s.Clear()
	resp, err := c.Get(bulk)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after Clear: %v %v", resp, err)
	}
	resp.Body.Close()
	// Wrong secret.
	bad := auth.NewESPI(auth.Credentials{TokenURL: s.TokenURL(), ClientID: s.ClientID(), ClientSecret: "wrong", HTTPClient: hc})
	if _, err := bad.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "wrong client id or secret") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	pki, err := simtls.New("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(pki, "0.0.0.0:0", Options{}); err == nil {
		t.Fatal("listened on every interface")
	}
	if _, err := Start(pki, "127.0.0.1:0", Options{TokenFormat: "yaml"}); err == nil {
		t.Fatal("accepted token format yaml")
	}
}

// TestSolarHousehold: the demo house's production is shaped like a rooftop array's (nothing
// at night, a peak around noon, far more in summer than in winter, overcast days), and its
// import, export and production add up: use = import + production − export, so the Usage
// view's self-sufficiency is a sensible figure (a quarter to a half of a year's use).
func TestSolarHousehold(t *testing.T) {
	zone := time.FixedZone("UTC-8", tzOffset)
	day := func(y int, m time.Month, d int) int64 { return time.Date(y, m, d, 0, 0, 0, 0, zone).Unix() }
	dayTotal := func(start int64) (prod float64) {
		for h := start; h < start+86400; h += 3600 {
			prod += solar(h)
		}
		return prod
	}
	var june, december float64
	for d := 1; d <= 30; d++ {
		june += dayTotal(day(2025, 6, d))
		december += dayTotal(day(2025, 12, d))
	}
	if june < 3*december {
		t.Errorf("June produces %.0f kWh, December %.0f kWh: no seasons", june/1000, december/1000)
	}
	if june/30 < 12000 || june/30 > 30000 {
		t.Errorf("a June day produces %.1f kWh on average, not a household's rooftop", june/30/1000)
	}
	june21 := day(2025, 6, 21)
	if solar(june21+2*3600) != 0 || solar(june21+23*3600) != 0 || solar(june21+12*3600) <= solar(june21+8*3600) {
		t.Errorf("21 June: 02:00 %.0f Wh, 08:00 %.0f, 12:00 %.0f, 23:00 %.0f", solar(june21+2*3600), solar(june21+8*3600), solar(june21+12*3600), solar(june21+23*3600))
	}
	overcast, sunny := 0, 0
	for d := 0; d < 365; d++ {
		switch s := sky(day(2025, 1, 1) + int64(d)*86400 + 12*3600); {
		case s < 0.5:
			overcast++
		case s > 0.75:
			sunny++
		}
	}
	if overcast < 20 || sunny < 150 {
		t.Errorf("%d overcast and %d sunny days in a year", overcast, sunny)
	}
	var use, imp, exp, prod float64
	for h := day(2025, 1, 1); h < day(2026, 1, 1); h += 3600 {
		i, e, p := houseImport(h), houseExport(h), solar(h)
		if i < 0 || e < 0 || p < 0 {
			t.Fatalf("at %d: import %v, export %v, production %v", h, i, e, p)
		}
		if d := i + p - e - houseLoad(h); math.Abs(d) > 1e-6 {
			t.Fatalf("at %d: import + production − export is off the house's use by %v Wh", h, d)
		}
		use, imp, exp, prod = use+houseLoad(h), imp+i, exp+e, prod+p
	}
	if ss := 1 - imp/use; ss < 0.2 || ss > 0.5 {
		t.Errorf("a year's self-sufficiency is %.0f %% (use %.0f kWh, production %.0f kWh, export %.0f kWh)", ss*100, use/1000, prod/1000, exp/1000)
	}
	month := func(m time.Month) float64 {
		var use, imp float64
		for h := day(2025, m, 1); h < day(2025, m+1, 1); h += 3600 {
			use, imp = use+houseLoad(h), imp+houseImport(h)
		}
		return 1 - imp/use
	}
	if jan, jul := month(time.January), month(time.July); jul <= jan {
		t.Errorf("self-sufficiency %.0f %% in January, %.0f %% in July", jan*100, jul*100)
	} else {
		t.Logf("self-sufficiency %.0f %% in January, %.0f %% in July", jan*100, jul*100)
	}
	t.Logf("a year: use %.0f kWh, import %.0f, production %.0f, export %.0f, self-sufficiency %.0f %%", use/1000, imp/1000, prod/1000, exp/1000, (1-imp/use)*100)
}
