package secevent

import (
	"reflect"
	"testing"
)

// TestDecodePollResponse: answers of plain tokens (decoded in one pass) and answers with a
// value that is not a string (decoded value by value, the value kept as its JSON text) give
// what the specification's lenient reading says.
func TestDecodePollResponse(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       PollResponse
		err        bool
	}{
		{"empty body", "  ", PollResponse{Sets: map[string]string{}}, false},
		{"no sets", `{"moreAvailable":true}`, PollResponse{Sets: map[string]string{}, MoreAvailable: true}, false},
		{"null sets", `{"sets":null}`, PollResponse{Sets: map[string]string{}}, false},
		{"tokens", `{"sets":{"j1":"a.b.c","j2":"d.e.f"},"moreAvailable":false}`,
			PollResponse{Sets: map[string]string{"j1": "a.b.c", "j2": "d.e.f"}}, false},
		{"escaped", `{"sets":{"j1":"a.b\u002ec"}}`, PollResponse{Sets: map[string]string{"j1": "a.b.c"}}, false},
		{"a value not a string", `{"sets":{"j1":"a.b.c","j2":{"x":1}},"moreAvailable":true}`,
			PollResponse{Sets: map[string]string{"j1": "a.b.c", "j2": `{"x":1}`}, MoreAvailable: true}, false},
		{"moreAvailable not a boolean", `{"sets":{},"moreAvailable":"yes"}`, PollResponse{Sets: map[string]string{}}, true},
		{"not an object", `[1]`, PollResponse{Sets: map[string]string{}}, true},
		{"a key twice", `{"sets":{"j1":"a.b.c","j1":"d.e.f"}}`, PollResponse{Sets: map[string]string{"j1": "d.e.f"}}, false},
		{"a name in another case", `{"sets":{"j1":"a.b.c"},"MoreAvailable":true}`,
			PollResponse{Sets: map[string]string{"j1": "a.b.c"}, MoreAvailable: true}, false},
		{"white space", " {\n \"moreAvailable\" : true ,\t\"sets\" : { \"j1\" : \"a.b.c\" } }\n",
			PollResponse{Sets: map[string]string{"j1": "a.b.c"}, MoreAvailable: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, one := range []bool{true, false} {
				onePass = one
				got, err := DecodePollResponse([]byte(tt.body))
				onePass = true
				if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("one pass %v: got %+v, %v; want %+v, error %v", one, got, err, tt.want, tt.err)
				}
			}
		})
	}
}

// TestMemberCount: members are counted at the object's own level only, whatever strings and
// nested values hold; it agrees with the decoder's walk (objectKeys).
func TestMemberCount(t *testing.T) {
	for _, b := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"c":[1,{"d":2}]},"e":"x:y"}`,
		`{"a\":b":"\"}:{","c\\":[":"]}`, `{"crit":["x","y"],"alg":"PS256","kid":"k"}`,
		` { "a" : [ { "b" : { } } ] , "c" : null } `,
	} {
		if got, want := memberCount([]byte(b)), len(objectKeys([]byte(b))); got != want {
			t.Errorf("%s: %d members, want %d", b, got, want)
		}
	}
}

// TestPollFastTaken: a usual answer is read in one pass, not left to encoding/json.
func TestPollFastTaken(t *testing.T) {
	got, ok := pollFast([]byte(" {\"sets\": {\"j1\": \"a.b.c\", \"j2\": \"d.e.f\"}, \"moreAvailable\": true}\n"))
	if !ok || !got.MoreAvailable || len(got.Sets) != 2 || got.Sets["j2"] != "d.e.f" {
		t.Fatalf("%+v, %v", got, ok)
	}
}
