package dayblob

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	const day = 20454 // 2026-01-01
	d0 := int64(day * DaySeconds)
	cases := []struct {
		name string
		rs   []Reading
	}{
		{"one", []Reading{{Start: d0, Seconds: 900, Value: 1}}},
		{"fifteen-minute day", func() []Reading {
			var rs []Reading
			for i := int64(0); i < 96; i++ {
				rs = append(rs, Reading{Start: d0 + i*900, Seconds: 900, Value: float64(i * 37), Quality: "17", TOU: i % 3, HasTOU: true})
			}
			return rs
		}()},
		{"every kind of value", []Reading{
			{Start: d0 + 1, Seconds: 3600, Value: 0.1},
			{Start: d0 + 2, Seconds: 3600, Value: -5},
			{Start: d0 + 3, Seconds: 60, Value: math.Copysign(0, -1)},
			{Start: d0 + 4, Seconds: 60, Value: 1 << 53},
			{Start: d0 + 5, Seconds: 60, Value: -(1 << 60)},
			{Start: d0 + 6, Seconds: 60, Value: math.Inf(1)},
			{Start: d0 + 7, Seconds: 60, Value: 1e300},
			{Start: d0 + 8, Seconds: 60, Missing: true, Quality: "8"},
			{Start: d0 + 9, Seconds: 60, Value: 2, Quality: "8", Cost: 0.25, HasCost: true},
			{Start: d0 + 10, Seconds: 60, Value: 2, Quality: "", Cost: 0, HasCost: true},
			{Start: d0 + 11, Seconds: -1, Value: 2, TOU: -3, HasTOU: true},
			{Start: d0 + 12, Seconds: 60, Value: 123.456},
			{Start: d0 + 13, Seconds: 60, Value: 0.1 + 0.2},
			{Start: d0 + 14, Seconds: 60, Value: -0.000001},
			{Start: d0 + 15, Seconds: 60, Value: math.NaN()},
			{Start: d0 + 16, Seconds: 60, Value: 1.0 / 3},
			{Start: d0 + DaySeconds - 1, Seconds: 2_678_400, Value: 123456.789},
		}},
		{"before 1970", []Reading{{Start: -DaySeconds, Seconds: 900, Value: 1}, {Start: -1, Seconds: 1, Value: 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			day := DayOf(c.rs[0].Start)
			blob := Append(nil, day, c.rs)
			got, err := Decode(nil, day, blob)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.rs) {
				t.Fatalf("%d readings back, want %d", len(got), len(c.rs))
			}
			for i := range got {
				w, g := c.rs[i], got[i]
				// Compare the value's bits: -0 and +0 are different readings of a meter's sign.
				if math.Float64bits(w.Value) != math.Float64bits(g.Value) {
					t.Errorf("reading %d: value %v (bits %x), want %v (bits %x)", i, g.Value, math.Float64bits(g.Value), w.Value, math.Float64bits(w.Value))
				}
				w.Value, g.Value = 0, 0
				if w != g {
					t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

func TestDayIsSmall(t *testing.T) {
	// A Green Button day: 96 whole watt-hour values, one quality, a tier each.
	d0 := int64(20454 * DaySeconds)
	var rs []Reading
	for i := int64(0); i < 96; i++ {
		rs = append(rs, Reading{Start: d0 + i*900, Seconds: 900, Value: float64(200 + i*13%900), Quality: "17", TOU: 1 + i%2, HasTOU: true})
	}
	if n := len(Append(nil, 20454, rs)); n > 96*7 {
		t.Errorf("a day of 96 readings takes %d bytes, want at most %d", n, 96*7)
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	d0 := int64(20454 * DaySeconds)
	good := Append(nil, 20454, []Reading{{Start: d0, Seconds: 900, Value: 0.5, Quality: "x", Cost: 1, HasCost: true}, {Start: d0 + 900, Seconds: 900, Value: 3}})
	cases := map[string][]byte{
		"empty":            nil,
		"unknown version":  append([]byte{9}, good[1:]...),
		"truncated":        good[:len(good)-3],
		"start step a day": {Version, flagSeconds, 0x80, 0xa3, 0x05, 2},
		// Each step is within a day; together they pass its end.
		"start past day": append(Append(nil, 20454, []Reading{{Start: d0 + DaySeconds - 1, Seconds: 1, Value: 1}}), 1<<formShift, 1, 2),
		"no duration":    {Version, 0, 0, 2},
		"same start":     append(Append(nil, 20454, []Reading{{Start: d0, Seconds: 1, Value: 1}}), 1<<formShift, 0, 2),
	}
	for name, blob := range cases {
		if _, err := Decode(nil, 20454, blob); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestMerge(t *testing.T) {
	r := func(start int64, v float64) Reading { return Reading{Start: start, Seconds: 1, Value: v} }
	cases := []struct {
		name          string
		old, add, out []Reading
	}{
		{"into nothing", nil, []Reading{r(1, 1), r(2, 2)}, []Reading{r(1, 1), r(2, 2)}},
		{"correction wins", []Reading{r(1, 1), r(2, 2), r(3, 3)}, []Reading{r(2, 20)}, []Reading{r(1, 1), r(2, 20), r(3, 3)}},
		{"interleaved", []Reading{r(2, 2), r(4, 4)}, []Reading{r(1, 1), r(3, 3), r(5, 5)}, []Reading{r(1, 1), r(2, 2), r(3, 3), r(4, 4), r(5, 5)}},
		{"later of the same start wins", nil, []Reading{r(1, 1), r(1, 10), r(2, 2)}, []Reading{r(1, 10), r(2, 2)}},
		{"unsorted, later wins", []Reading{r(3, 3)}, []Reading{r(3, 30), r(1, 1), r(3, 300)}, []Reading{r(1, 1), r(3, 300)}},
	}
	for _, c := range cases {
		if got := Merge(nil, c.old, c.add); !reflect.DeepEqual(got, c.out) {
			t.Errorf("%s: %v, want %v", c.name, got, c.out)
		}
	}
}

func FuzzDecode(f *testing.F) {
	d0 := int64(20454 * DaySeconds)
	f.Add(Append(nil, 20454, []Reading{{Start: d0, Seconds: 900, Value: 0.5, Quality: "x", Cost: 1, HasCost: true, TOU: 1, HasTOU: true}, {Start: d0 + 900, Seconds: 900, Missing: true}}))
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, blob []byte) {
		rs, err := Decode(nil, 20454, blob)
		if err != nil {
			return
		}
		for i, r := range rs {
			if DayOf(r.Start) != 20454 || (i > 0 && r.Start <= rs[i-1].Start) {
				t.Fatalf("reading %d starts at %d: outside the day or out of order", i, r.Start)
			}
		}
		// What decodes encodes to something that decodes to the same readings.
		again, err := Decode(nil, 20454, Append(nil, 20454, rs))
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(rs) {
			t.Fatalf("%d readings after a round trip, want %d", len(again), len(rs))
		}
		for i := range rs {
			a, b := rs[i], again[i]
			if math.Float64bits(a.Value) != math.Float64bits(b.Value) || math.Float64bits(a.Cost) != math.Float64bits(b.Cost) {
				t.Fatalf("reading %d: %+v became %+v", i, a, b)
			}
			a.Value, b.Value, a.Cost, b.Cost = 0, 0, 0, 0
			if a != b {
				t.Fatalf("reading %d: %+v became %+v", i, a, b)
			}
		}
	})
}
