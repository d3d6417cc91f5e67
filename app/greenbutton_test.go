package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"custody/store"
	"custody/sync/espi/espitest"
)

// TestGreenButtonSyncEndToEnd adds a greenbutton source for the simulator through the CLI,
// tests it, syncs it once and exports what came in; then checks failures read as advice and
// that neither the secret nor any token is in the database, the log or the output.
func TestGreenButtonSyncEndToEnd(t *testing.T) {
	// The custodian's clock stands still, so that no new reading appears between two syncs.
	r := newGBRig(t, "custody-e2e", &espitest.Options{TokenFormat: "xml", Days: 3})
	sim, files, c := r.sim, r.files, r.c
	r.run(t, 0, sim.Secret()+"\n", "sources", "add", "greenbutton", "pge",
		"--base-url", sim.BaseURL(), "--token-url", sim.TokenURL(), "--client-id", sim.ClientID(),
		"--bulk-id", sim.BulkID(), "--cert", files.ClientCert, "--key", files.ClientKey, "--ca", files.CA, "--secret-stdin")
	if got, err := c.secrets.Secret("pge", SecretField); err != nil || got != sim.Secret() {
		t.Fatalf("keyring holds %q, %v", got, err)
	}
	if out := r.run(t, 0, "", "sources", "test", "pge"); !strings.Contains(out, "pge: OK:") || !strings.Contains(out, "bulk id "+sim.BulkID()) {
		t.Fatalf("sources test: %s", out)
	}
	if out := r.run(t, 0, "", "sync", "--once", "pge"); !strings.Contains(out, "pge: ok") {
		t.Fatalf("sync: %s", out)
	}
	out := r.run(t, 0, "", "export")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency" {
		t.Fatalf("header %v", rows[0])
	}
	type key struct{ commodity, flow, unit, seconds string }
	series := map[key]int{}
	production := 0
	for _, r := range rows[1:] {
		series[key{r[2], r[3], r[4], r[6]}]++
		if _, err := strconv.ParseFloat(r[7], 64); err != nil {
			t.Fatalf("row %v: value %v", r, err)
		}
		if r[8] != "14" && r[8] != "17" {
			t.Fatalf("row %v: quality", r)
		}
		// The house's import carries its cost; its solar production (a forward series of
		// its own, MeterReading 5) carries none.
		if strings.HasSuffix(r[1], "/MeterReading/1") && (r[9] == "" || r[10] != "USD") {
			t.Fatalf("row %v: the hourly import has cost in USD", r)
		}
		if strings.HasSuffix(r[1], "/MeterReading/5") {
			production++
			if r[3] != "forward" || r[9] != "" {
				t.Fatalf("row %v: the solar production is forward, without cost", r)
			}
		}
	}
	for _, k := range []key{{"electricity", "forward", "Wh", "3600"}, {"electricity", "reverse", "Wh", "3600"},
		{"electricity", "forward", "Wh", "900"}, {"gas", "forward", "therm", "86400"}} {
		if series[k] == 0 {
			t.Errorf("no rows of %+v; have %v", k, series)
		}
	}
	if production == 0 {
		t.Error("no rows of the house's solar production")
	}
	if series[key{"gas", "forward", "therm", "86400"}] != 3 {
		t.Errorf("gas: %d daily rows, want 3", series[key{"gas", "forward", "therm", "86400"}])
	}
	// Syncing again changes nothing that was there.
	r.run(t, 0, "", "sync", "--once", "pge")
	if again := r.run(t, 0, "", "export"); again != out {
		t.Error("a second sync changed the export")
	}

	// Failures read as advice.
	sim.Inject(espitest.FaultRevoked)
	if out := r.run(t, 1, "", "sync", "--once", "pge"); !strings.Contains(out, "reauthorise at the utility") {
		t.Fatalf("revoked: %s", out)
	}
	sim.Clear()
	sim.Inject(espitest.FaultTooManyRequests)
	if out := r.run(t, 1, "", "sync", "--once", "pge"); !strings.Contains(out, "429") || !strings.Contains(out, "slow down") {
		t.Fatalf("429: %s", out)
	}
	c.secrets.SetSecret("pge", SecretField, "not-the-secret")
	if out := r.run(t, 1, "", "sources", "test", "pge"); !strings.Contains(out, "wrong client id or secret") || !strings.Contains(out, "what to do") {
		t.Fatalf("wrong secret: %s", out)
	}

	// No secret or token anywhere it should not be.
	r.assertNowhere(t, "a secret or token", append(sim.IssuedTokens(), sim.Secret(), "not-the-secret"))
}

// TestNotificationListenerFetchesOnlyAllowedURIs configures a greenbutton source with a
// notification listener through the CLI, starts the listeners as `custody sync` does, POSTs a
// BatchList naming the simulator's bulk data and a foreign host, and checks that exactly the
// allowed URI was fetched and stored.
func TestNotificationListenerFetchesOnlyAllowedURIs(t *testing.T) {
	r := newGBRig(t, "custody-e2e", &espitest.Options{Days: 2})
	sim, c := r.sim, r.c
	r.add(t, "pge", r.notifyFlags()...)
	// A listener without its certificate is refused at once.
	if code, _, errOut := c.run("x\n", "sources", "add", "greenbutton", "other", "--base-url", sim.BaseURL(), "--token-url", sim.TokenURL(),
		"--client-id", "c", "--notify-listen", ":8443", "--secret-stdin"); code == 0 || !strings.Contains(errOut, "notify_cert") {
		t.Fatalf("listener without certificate: %d %s", code, errOut)
	}

	var stdout, logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, st := r.listen(t, ctx, &stdout, &logs)
	ls := n.set.Listeners()
	if len(ls) != 1 || !strings.Contains(stdout.String(), "listening for notifications on "+ls[0].URL()) {
		t.Fatalf("listeners %v, output %q", ls, stdout.String())
	}
	clientTLS, _ := r.pki.ClientTLS()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	allowed := sim.BaseURL() + "/Batch/Bulk/" + sim.BulkID() + "?correlationID=1"
	foreign := "https://203.0.113.7/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/" + sim.BulkID()
	resp, err := hc.Post(ls[0].URL()+"/espi/notify/pge", "application/xml", bytes.NewReader(espitest.BatchList(foreign, allowed)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST BatchList: %v %v", resp, err)
	}
	resp.Body.Close()
	n.wait()
	var gets []string
	for _, q := range sim.Requests() {
		if q.Method == "GET" {
			gets = append(gets, q.Path+"?"+q.RawQuery)
		}
	}
	if len(gets) != 1 || !strings.HasSuffix(gets[0], "correlationID=1") {
		t.Fatalf("GETs %q, want only the allowed URI", gets)
	}
	if counts, _ := st.Counts(context.Background()); counts.Readings == 0 {
		t.Fatal("nothing stored from the BatchList")
	}
	src, _ := st.SourceByName(context.Background(), "pge")
	notified, _ := st.Notified(context.Background(), src.ID, store.NotifiedRefused)
	if len(notified) != 1 || notified[0].URI != foreign {
		t.Fatalf("refused %+v", notified)
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Fatal("the refusal was not logged")
	}
}
