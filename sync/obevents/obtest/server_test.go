package obtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"custody/sync/simtls"
)

type tclient struct {
	t    *testing.T
	srv  *Server
	http *http.Client
	tok  string
}

func start(t *testing.T, opts Options) (*Server, *tclient, *simtls.PKI) {
	t.Helper()
	pki, err := simtls.New("obtest-client")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, err := pki.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	c := &tclient{t: t, srv: srv, http: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}}
	return srv, c, pki
}

func (c *tclient) token(scope string) (int, string) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest("POST", c.srv.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.srv.Options().ClientID, c.srv.Options().ClientSecret)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.AccessToken
}

func (c *tclient) poll(body string) (int, map[string]string, *bool) {
	c.t.Helper()
	if c.tok == "" {
		_, c.tok = c.token("eventpolling")
	}
	req, _ := http.NewRequest("POST", c.srv.BaseURL()+"/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable *bool             `json:"moreAvailable"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out.Sets, out.MoreAvailable
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestQueueSemantics: oldest first, maxEvents, redelivery of what was not acknowledged,
// eviction on ack and on setErrs, ack-only requests, moreAvailable.
func TestQueueSemantics(t *testing.T) {
	srv, c, _ := start(t, Options{Events: 5, InvalidEvery: -1, MaxEventsCap: 3})
	q := srv.Queue()
	code, sets, more := c.poll(`{"returnImmediately":true,"maxEvents":2}`)
	if code != 200 || !slices.Equal(keys(sets), sorted(q[:2])) || more == nil || !*more {
		t.Fatalf("first poll: %d %v %v", code, keys(sets), more)
	}
	// Not acknowledged: delivered again.
	if _, sets, _ = c.poll(`{"returnImmediately":true,"maxEvents":2}`); !slices.Equal(keys(sets), sorted(q[:2])) {
		t.Fatalf("redelivery: %v", keys(sets))
	}
	// Ack one, setErr the other: both gone; the next two come.
	_, sets, _ = c.poll(`{"returnImmediately":true,"maxEvents":2,"ack":["` + q[0] + `"],"setErrs":{"` + q[1] + `":{"err":"invalid_key","description":"x"}}}`)
	if !slices.Equal(keys(sets), sorted(q[2:4])) {
		t.Fatalf("after ack: %v", keys(sets))
	}
	if srv.SetErrs()[q[1]].Err != "invalid_key" || srv.Acked()[q[0]] != 1 {
		t.Fatal("ack/setErr not recorded")
	}
	// Ack-only: nothing returned, one left.
	_, sets, more = c.poll(`{"returnImmediately":true,"maxEvents":0,"ack":["` + q[2] + `","` + q[3] + `"]}`)
	if len(sets) != 0 || more == nil || !*more {
		t.Fatalf("ack-only: %v %v", sets, more)
	}
	// maxEvents above the cap is capped; no maxEvents means the cap.
	srv.Generate()
	srv.Generate()
	srv.Generate()
	_, sets, more = c.poll(`{"returnImmediately":true,"maxEvents":100}`)
	if len(sets) != 3 || !*more {
		t.Fatalf("cap: %d %v", len(sets), *more)
	}
	if !slices.Equal(srv.Queue(), append([]string{q[4]}, srv.Queue()[1:]...)) || srv.Queue()[0] != q[4] {
		t.Fatalf("order: %v", srv.Queue())
	}
	if code, _, _ := c.poll(`{"returnImmediately":false}`); code != http.StatusNotImplemented {
		t.Errorf("long poll: %d", code)
	}
	if code, _, _ := c.poll(`{"returnImmediately":true,"bogus":1}`); code != 400 {
		t.Errorf("unknown field: %d", code)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestAuthAndTLS: the token endpoint and the APIs need the client certificate, the right
// secret and a known scope; the key set is public and refuses a token.
func TestAuthAndTLS(t *testing.T) {
	srv, c, pki := start(t, Options{Events: 1})
	if code, tok := c.token("eventpolling"); code != 200 || tok == "" {
		t.Fatalf("token: %d", code)
	}
	if code, _ := c.token("openid"); code != 400 {
		t.Errorf("bad scope: %d", code)
	}
	cfg, _ := pki.ClientTLS()
	nocert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs}}}
	c2 := &tclient{t: t, srv: srv, http: nocert}
	if code, _ := c2.token("eventpolling"); code != 401 {
		t.Errorf("token without client certificate: %d", code)
	}
	c.tok = "forged"
	if code, _, _ := c.poll(`{"returnImmediately":true}`); code != 401 {
		t.Errorf("forged token: %d", code)
	}
	resp, err := nocert.Get(srv.JWKSURL())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("public JWKS: %v %v", err, resp)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.JWKSURL(), nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err = nocert.Do(req)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("JWKS with a token: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestFaultInjection: injected statuses come first, once each.
func TestFaultInjection(t *testing.T) {
	srv, c, _ := start(t, Options{Events: 1})
	srv.InjectFault("/events", Fault{Status: 503, RetryAfter: 7}, Fault{Status: 500})
	for _, want := range []int{503, 500, 200} {
		if code, _, _ := c.poll(`{"returnImmediately":true}`); code != want {
			t.Fatalf("got %d, want %d", code, want)
		}
	}
	if srv.Requests("/events") != 3 {
		t.Errorf("requests %d", srv.Requests("/events"))
	}
}

// TestPushToCallback: queued events go to the subscription's callback; 202 removes them.
func TestPushToCallback(t *testing.T) {
	srv, _, pki := start(t, Options{Events: 3, InvalidEvery: -1})
	var got []string
	tlsCfg, _ := pki.ServerTLS(false)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/jwt" || r.Header.Get("x-fapi-interaction-id") == "" {
			w.WriteHeader(500)
			return
		}
		got = append(got, string(b))
		w.WriteHeader(http.StatusAccepted)
	})}
	go hs.Serve(ln)
	defer hs.Close()
	srv.mu.Lock()
	srv.subs["ES-1"] = Subscription{EventSubscriptionID: "ES-1", Version: "3.1", CallbackURL: "https://" + ln.Addr().String() + "/open-banking/v3.1/event-notifications"}
	srv.mu.Unlock()
	n, err := srv.PushQueued(context.Background())
	if err != nil || n != 3 || len(got) != 3 || len(srv.Queue()) != 0 {
		t.Fatalf("pushed %d (%v), got %d, queue %v", n, err, len(got), srv.Queue())
	}
}
