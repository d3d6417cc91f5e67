package eloverblik

import (
	"net/http"
	"os"
	"testing"
	"time"
)

// FuzzReadError checks that any error body gives an APIError without panicking, and that the
// codes of the real shapes are read.
func FuzzReadError(f *testing.F) {
	if b, err := os.ReadFile("../datahub/eloverblik/testdata/customer_error_400_30002_body.json"); err == nil {
		f.Add(400, b)
	}
	f.Add(429, []byte(`{"result":[{"success":false,"errorCode":10004,"errorText":"ExceededMeteringPointLimit","id":"571313174100000012"}]}`))
	f.Add(200, []byte(`{"result":null,"success":false,"errorCode":"50001","errorText":"TokenNotValid"}`))
	f.Add(503, []byte(`DataHub unavailable`))
	f.Add(401, []byte(`{"type":"x","title":"Unauthorized","status":401}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ae := readError(status, body)
		if ae == nil || ae.Status != status || len(ae.Text) > 1000 && len(body) < 1000 {
			t.Fatalf("%+v", ae)
		}
		_ = classify("op", ae, http.Header{"Retry-After": {"bogus"}}, time.Now()).Error()
	})
}

func TestReadErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		code   int
	}{
		{400, `"#30002: Period not allowed, ToDate is equal to FromDate."`, 30002},
		{429, `{"result":[{"success":true,"errorCode":10000},{"success":false,"errorCode":"10004","errorText":"x"}]}`, 10004},
		{200, `{"result":null,"success":false,"errorCode":50001,"errorText":"TokenNotValid"}`, 50001},
		{503, `DataHub unavailable`, 0},
	} {
		if ae := readError(tc.status, []byte(tc.body)); ae.Code != tc.code {
			t.Errorf("%s: code %d, want %d", tc.body, ae.Code, tc.code)
		}
	}
}
