package espi

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"custody/store"
)

// TestMutatedFixtures parses thousands of randomly damaged fixtures (bytes changed, cut,
// inserted or deleted): every one must parse or fail with an error, never panic. It is a
// deterministic complement to FuzzParse that runs in every `go test`.
func TestMutatedFixtures(t *testing.T) {
	seeds := []string{"pge-smd-bulk-1day-hourly-tou.xml", "sdk-gas-monthly-therm.xml", "gba-usage-subscription-feed-nested-readingtype.xml",
		"pge-usagesummaries-cost-details.xml", "sce-bulk-usagesummaries-intervalblock.xml", "utilityapi-authorization-entry.xml"}
	var bodies [][]byte
	for _, s := range seeds {
		b, err := os.ReadFile("testdata/" + s)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	r := rand.New(rand.NewPCG(9, 9))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		b := append([]byte(nil), bodies[r.IntN(len(bodies))]...)
		for k := r.IntN(5) + 1; k > 0 && len(b) > 0; k-- {
			p := r.IntN(len(b))
			switch r.IntN(4) {
			case 0:
				b[p] = byte(r.IntN(256))
			case 1:
				b = b[:p]
			case 2:
				c := "<>&;\"'/![?-]x:="[r.IntN(15)]
				b = append(b[:p], append([]byte{c}, b[p:]...)...)
			case 3:
				b = append(b[:p], b[min(len(b), p+r.IntN(50)):]...)
			}
		}
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("panic %v on input %q", v, b)
				}
			}()
			_, _ = parse(context.Background(), nil, store.Payload{}, bytes.NewReader(b), nil)
		}()
	}
}
