package app

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/sync/datahub/datahubtest"
	"custody/sync/simtls"
)

func datahubFixture(name string) string {
	return filepath.Join("..", "sync", "datahub", "testdata", name)
}

// TestDataHubEndToEnd drives the CLI against the DataHub simulator over TLS: add the source
// with its secret on stdin, test it, send a request, sync until the queues are empty, list the
// messages as JSON Lines with the answer linked to the request, and export the readings.
func TestDataHubEndToEnd(t *testing.T) {
	pki, err := simtls.New("custody-cli")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := datahubtest.Start(pki, "", datahubtest.Options{Fixtures: true, Generate: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}

	code, out, errOut := c.run(sim.ClientSecret()+"\n", "sources", "add", "datahub", "dh", "--base-url", sim.URL(),
		"--token-url", sim.TokenURL(), "--client-id", sim.ClientID(), "--scope", sim.Scope(), "--ca", files.CA,
		"--queue", "timeseries", "--queue", "aggregations", "--format", "json", "--secret-expires", "2099-12-31", "--secret-stdin",
		"--sender-gln", "5799999933318", "--market-role", "DDK")
	if code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errOut)
	}
	if v, _ := c.secrets.Secret("dh", "client_secret"); v != sim.ClientSecret() {
		t.Fatal("the secret did not reach the keyring")
	}
	code, out, errOut = c.run("", "sources", "test", "dh")
	if code != 0 || !strings.Contains(out, "dh: OK: token accepted; health endpoint /ping answered 200") ||
		!strings.Contains(out, "acting as 5799999933318 in role DDK") || sim.Pings() != 1 {
		t.Fatalf("sources test: %d %s %s (%d pings)", code, out, errOut, sim.Pings())
	}
	// A market role DataHub has no queue for is refused when the source is added.
	code, _, errOut = c.run("x\n", "sources", "add", "datahub", "dh2", "--base-url", sim.URL(), "--token-url", sim.TokenURL(),
		"--client-id", "c", "--scope", "s", "--market-role", "DGL", "--secret-stdin")
	if code == 0 || !strings.Contains(errOut, `--market-role must be DDQ, DDM, MDR, DDK, DDX, EZ, STS or DEL, not "DGL"`) {
		t.Errorf("sources add with role DGL: %d %s", code, errOut)
	}

	// A request: recorded, POSTed, 202 with a CorrelationId; sender and role are the source's.
	code, out, errOut = c.run("", "request", "aggregated", "dh",
		"--grid-area", "804", "--energy-supplier", "5790002606892", "--from", "2025-03-01", "--to", "2025-03-02")
	if code != 0 {
		t.Fatalf("request: %d %s %s", code, out, errOut)
	}
	m := regexp.MustCompile(`request ([0-9a-f]{32}) accepted \(HTTP 202\), CorrelationId ([0-9a-f-]{36})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("request output: %s", out)
	}
	reqID, corr := m[1], m[2]
	if got := sim.Requests(); len(got) != 1 || got[0].MessageID != reqID || got[0].Format != "json" {
		t.Fatalf("simulator received %+v", got)
	}
	// A refused request shows the error object's code and message.
	code, _, errOut = c.run("", "request", "validated", "dh", "--sender", "5799999933318", "--role", "DDQ",
		"--metering-point", "571313100000001239", "--from", "2025-03-01", "--to", "2025-03-02", "--format", "xml")
	if code != 0 {
		t.Fatalf("second request: %s", errOut)
	}

	// A lost 202: the same document is sent again, DataHub answers 00101, and it counts as sent.
	sim.Inject(datahubtest.Faults{LoseAccepted: 1})
	code, out, errOut = c.run("", "request", "wholesale", "dh", "--sender", "5799999933318", "--role", "DDQ",
		"--from", "2025-03-01", "--to", "2025-04-01")
	if code != 0 || !strings.Contains(out, "had reached DataHub on the first attempt (the retry got 00101)") {
		t.Errorf("lost 202: %d %s %s", code, out, errOut)
	}

	// A refused request shows the error object's code and message, and is recorded as refused.
	sim.Inject(datahubtest.Faults{RefuseRequests: 1})
	code, out, errOut = c.run("", "request", "wholesale", "dh", "--sender", "5799999933318", "--role", "DDQ",
		"--from", "2025-03-01", "--to", "2025-04-01")
	if code != 1 || !strings.Contains(errOut, "HTTP 400 BadRequest: Multiple errors in message; 00002: Sender id does not match id of current authenticated user (target SenderId); 00403") {
		t.Errorf("refused request: %d %s %s", code, out, errOut)
	}

	// A wholesale settlement request for a grid area, second correction: answered with an
	// RSM-019 carrying prices and amounts.
	code, out, errOut = c.run("", "request", "wholesale", "dh", "--role", "DDQ", "--grid-area", "804", "--process", "D32",
		"--settlement-version", "D02", "--from", "2025-03-01", "--to", "2025-03-02")
	if code != 0 || !strings.Contains(out, "accepted (HTTP 202)") {
		t.Fatalf("wholesale request: %d %s %s", code, out, errOut)
	}

	code, out, errOut = c.run("", "sync", "--once", "dh")
	if code != 0 {
		t.Fatalf("sync: %d %s %s", code, out, errOut)
	}
	if w := append(sim.Waiting("timeseries"), sim.Waiting("aggregations")...); len(w) != 0 {
		t.Errorf("queues not drained: %v", w)
	}

	code, out, _ = c.run("", "messages", "--json")
	if code != 0 {
		t.Fatal(out)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON Lines: %q", l)
		}
		for _, k := range []string{"source", "id", "type", "received", "correlation", "readings", "error"} {
			if _, ok := v[k]; !ok {
				t.Errorf("line lacks %q: %s", k, l)
			}
		}
		lines = append(lines, v)
	}
	// 12 fixtures + 3 generated + 4 answers.
	if len(lines) != 19 {
		t.Fatalf("%d messages, want 19", len(lines))
	}
	linked := 0
	for _, v := range lines {
		if v["source"] != "dh" || v["error"] != "" {
			t.Errorf("line %v", v)
		}
		if v["request"] == reqID {
			linked++
			if v["correlation"] != corr || v["type"] != "NotifyAggregatedMeasureData_MarketDocument" || v["readings"] != float64(24) {
				t.Errorf("answer %v: want correlation %s, 24 hourly readings", v, corr)
			}
		}
	}
	if linked != 1 {
		t.Errorf("%d messages linked to request %s, want 1", linked, reqID)
	}
	code, out, _ = c.run("", "request", "list", "dh")
	// The wholesale request without a grid area was answered with a rejection (E0H): linked to
	// it, with the reason in plain words and DataHub's own text.
	if code != 0 || !strings.Contains(out, reqID) || !strings.Contains(out, "answered") || !strings.Contains(out, "refused: HTTP 400 BadRequest") ||
		!strings.Contains(out, "rejected: E0H: DataHub has no data for what was asked (yet): check the period, grid area and parties, or ask again after the settlement has run (DataHub: No data available)") {
		t.Errorf("request list: %s", out)
	}

	code, out, _ = c.run("", "messages")
	if code != 0 || !strings.Contains(out, "19 documents, 0 unreadable") || !strings.Contains(out, "RejectRequestAggregatedMeasureData") {
		t.Errorf("messages table: %s", out)
	}

	code, csv, errOut := c.run("", "export", "--meter", "grid-area-804")
	if code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	if !strings.HasPrefix(csv, "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency\n") {
		t.Errorf("CSV header: %q", csv[:80])
	}
	for _, row := range []string{
		// The answer's first hour (simulator profile: seed 7, position 1: (7×31+17) mod 1000 = 234 → 0.234).
		"grid-area-804,D04/8716867000030/E17/E02/es:5790002606892/PT1H/kWh,electricity,forward,kWh,2025-02-28T23:00:00Z,3600,0.234,A04,,\n",
		// RSM-019 monthly amount: no quantity, an amount in DKK.
		"grid-area-804,D05/5790001330590/charge:5790000432752:D03:40000/es:5790002606892/P1M/kWh,electricity,,kWh,2025-10-31T23:00:00Z,2592000,,,1284671.235,DKK\n",
		// The answer to the D32 D02 wholesale request: quantity with its amount, a price series.
		"grid-area-804,D32:D02/5790001330590/E17/E02/charge:5790000610877:D03:T-NET-C/es:5799999933318/PT1H/kWh,electricity,forward,kWh,2025-02-28T23:00:00Z,3600,1234,A06,156.964,DKK\n",
		"grid-area-804,D32:D02/5790001330590/E17/E02/charge:5790000610877:D03:T-NET-C/es:5799999933318/PT1H/DKK/kWh/price,electricity,,DKK/kWh,2025-02-28T23:00:00Z,3600,0.1272,A06,,DKK\n",
		// ... and its amount series, chartable: the amount as the value, in DKK.
		"grid-area-804,D05/5790001330590/charge:5790000432752:D03:40000/es:5790002606892/P1M/DKK/amount,electricity,,DKK,2025-10-31T23:00:00Z,2592000,1284671.235,,,DKK\n",
	} {
		if !strings.Contains(csv, row) {
			t.Errorf("export lacks %q\n%s", row, csv)
		}
	}
	code, csv, _ = c.run("", "export", "--meter", "571313100000001239")
	if code != 0 || !regexp.MustCompile(`,3600,,A02,,\n`).MatchString(csv) {
		t.Errorf("the generated A02 hour is not exported with an empty value:\n%s", csv)
	}
}

// TestImportCIMAndEloverblikFiles imports DataHub and Eloverblik files through the CLI and
// refuses a request document with its reason.
func TestImportCIMAndEloverblikFiles(t *testing.T) {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	xml := datahubFixture("peek-responses/measuredata_NotifyValidatedMeasureData_PT15M_day.xml")
	js := datahubFixture("peek-responses/measuredata_NotifyValidatedMeasureData_PT1H_DST_2series.json")
	elo := filepath.Join("..", "sync", "datahub", "eloverblik", "testdata", "customer_gettimeseries_PT1H_DST_reconstructed.json")
	code, out, errOut := c.run("", "import", xml, js, elo)
	if code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	for _, want := range []string{xml + ": cim-xml, 1 meters, 1 series, 96 readings", js + ": cim-json, 2 meters, 2 series, 46 readings",
		elo + ": eloverblik, 1 meters, 1 series, 47 readings"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	// Two files holding the same MessageId (111131835): listed once, the later one wins.
	code, out, errOut = c.run("", "import", datahubFixture("incoming/NotifyValidatedMeasureData_PT1H.xml"),
		datahubFixture("incoming/NotifyValidatedMeasureData_PT1H_missing_quantity.json"))
	if code != 0 {
		t.Fatalf("import: %s %s", out, errOut)
	}
	code, out, errOut = c.run("", "import", datahubFixture("incoming/RequestAggregatedMeasureData.xml"))
	if code != 1 || !strings.Contains(out+errOut, "is a request document") {
		t.Errorf("request document import: %d %s %s", code, out, errOut)
	}
	code, out, _ = c.run("", "messages", "--json")
	if code != 0 || strings.Count(out, "\n") != 3 || strings.Count(out, `"id":"111131835"`) != 1 || !strings.Contains(out, `"id":"405cacec877409a977d21e02ff01cf99"`) {
		t.Errorf("messages after import: %s", out)
	}
	code, csv, _ := c.run("", "export", "--meter", "571313100000001239")
	// The PT15M day's position 42 (A02) is exported with an empty value, never 0.
	if code != 0 || !strings.Contains(csv, "571313100000001239,8716867000030/E17/PT15M/kWh,electricity,forward,kWh,2024-12-01T09:15:00Z,900,,A02,,\n") {
		t.Errorf("export:\n%s", csv)
	}
}
