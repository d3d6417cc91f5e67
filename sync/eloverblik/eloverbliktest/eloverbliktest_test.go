package eloverbliktest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// call sends one request straight to the handler.
func call(s *Server, method, path, bearer string, ids ...string) *httptest.ResponseRecorder {
	var body *bytes.Reader
	if ids != nil {
		b, _ := json.Marshal(map[string]any{"meteringPoints": map[string]any{"meteringPoint": ids}})
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, path, body)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func dataToken(t *testing.T, s *Server, now time.Time) string {
	t.Helper()
	w := call(s, http.MethodGet, TokenPath, s.RefreshToken(now.AddDate(1, 0, 0)))
	var ans struct{ Result string }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ans) != nil || ans.Result == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return ans.Result
}

func TestLimitsAndShapes(t *testing.T) {
	now := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }, From: time.Date(2025, 10, 20, 0, 0, 0, 0, copenhagen), UnavailableEvery: -1})
	dt := dataToken(t, s, now)
	id := DefaultPoints[0].ID
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"2025-10-25/2025-10-25/Actual", 400, `"#30002: Period not allowed, ToDate is equal to FromDate."`},
		{"2025-10-26/2025-10-25/Actual", 400, `"#30001:`},
		{"2025-10-25/2025-11-04/Actual", 400, `"#30003:`},
		{"2025-11-04/2025-11-05/Actual", 400, `"#30000:`},
		{"2019-12-31/2020-01-02/Actual", 400, `"#30010:`},
		{"2021-01-01/2023-01-03/Actual", 400, `"#30014:`},
		{"2025-1-1/2025-11-01/Actual", 400, `"#30004:`},
		{"2025-10-25/2025-10-27/Quarter", 200, `"errorCode":30008`},
		// 26 October 2025 is the autumn DST day: 25 hourly points.
		{"2025-10-25/2025-10-27/Actual", 200, `"errorCode":10000`},
	} {
		w := call(s, http.MethodPost, TimeSeriesPath+tc.path, dt, id)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s: %d %.200s", tc.path, w.Code, w.Body)
		}
	}
	w := call(s, http.MethodPost, TimeSeriesPath+"2025-10-25/2025-10-27/Actual", dt, id)
	var ans struct {
		Result []struct {
			Doc struct {
				TimeSeries []struct {
					Period []struct {
						Point []map[string]string
					}
				}
			} `json:"MyEnergyData_MarketDocument"`
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatal(err)
	}
	ps := ans.Result[0].Doc.TimeSeries[0].Period
	if len(ps) != 2 || len(ps[0].Point) != 24 || len(ps[1].Point) != 25 {
		t.Fatalf("periods %d", len(ps))
	}
	if p := ps[1].Point[24]; p["position"] != "25" {
		t.Errorf("last point %v", p)
	}
	// Too many metering points: 429 with error 10004 inside, not a rate limit.
	ids := make([]string, 11)
	for i := range ids {
		ids[i] = id
	}
	if w := call(s, http.MethodPost, DetailsPath, dt, ids...); w.Code != 429 || !strings.Contains(w.Body.String(), `"errorCode":10004`) {
		t.Errorf("11 points: %d %s", w.Code, w.Body)
	}
	// A data call without a data token; the refresh token is no data token.
	if w := call(s, http.MethodGet, PointsPath, s.RefreshToken(now.AddDate(1, 0, 0))); w.Code != 401 {
		t.Errorf("refresh token as data token: %d", w.Code)
	}
}

func TestTokenLimit(t *testing.T) {
	now := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	refresh := s.RefreshToken(now.AddDate(1, 0, 0))
	for i, want := range []int{200, 200, 429} {
		if w := call(s, http.MethodGet, TokenPath, refresh); w.Code != want {
			t.Errorf("token call %d: %d", i+1, w.Code)
		}
	}
	now = now.Add(time.Minute)
	if w := call(s, http.MethodGet, TokenPath, refresh); w.Code != 200 {
		t.Errorf("a minute later: %d", w.Code)
	}
	now = now.Add(time.Minute)
	if w := call(s, http.MethodGet, TokenPath, s.RefreshToken(now.Add(-time.Second))); w.Code != 401 {
		t.Errorf("expired refresh token: %d", w.Code)
	}
	now = now.Add(time.Minute)
	s.Revoke()
	if w := call(s, http.MethodGet, TokenPath, refresh); w.Code != 200 || !strings.Contains(w.Body.String(), `"errorCode":50001`) {
		t.Errorf("revoked: %d %s", w.Code, w.Body)
	}
}

// TestTokenLimitPerAddress: the limit is per client IP address, whatever the refresh token
// (two users, or two databases of one user, behind one address share it), the refused calls
// count too, and another address has its own; isalive needs no token.
func TestTokenLimitPerAddress(t *testing.T) {
	now := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	from := func(addr, bearer string) int {
		r := httptest.NewRequest(http.MethodGet, TokenPath, nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+bearer)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	a, b := s.RefreshToken(now.AddDate(1, 0, 0)), s.RefreshToken(now.AddDate(1, 0, 0))
	for i, tc := range []struct {
		at     time.Duration
		addr   string
		bearer string
		want   int
	}{
		{0, "192.0.2.1:5001", a, 200},
		{time.Second, "192.0.2.1:5002", b, 200},              // another token, same address
		{2 * time.Second, "192.0.2.1:5003", b, 429},          // the third within a minute
		{3 * time.Second, "192.0.2.7:5001", a, 200},          // another address
		{60500 * time.Millisecond, "192.0.2.1:5004", a, 429}, // the refused call at 2 s still counts
		{122 * time.Second, "192.0.2.1:5005", a, 200},        // and so did the one at 60.5 s
	} {
		now = time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC).Add(tc.at)
		if got := from(tc.addr, tc.bearer); got != tc.want {
			t.Errorf("call %d at %v from %s: %d, want %d", i+1, tc.at, tc.addr, got, tc.want)
		}
	}
	if w := call(s, http.MethodGet, AlivePath, ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "true" {
		t.Errorf("isalive: %d %s", w.Code, w.Body)
	}
}

func TestUnavailableNowAndThen(t *testing.T) {
	now := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }, UnavailableEvery: 3})
	dt := dataToken(t, s, now)
	var got []int
	for range 6 {
		got = append(got, call(s, http.MethodGet, PointsPath, dt).Code)
	}
	if want := []int{200, 200, 503, 200, 200, 503}; !equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
