package ui

import (
	"math"
	"reflect"
	"testing"
	"time"

	"custody/store"
)

func TestAggregateInMeterLocalTime(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err) // time/tzdata is embedded (ui/settings.go): the zone always resolves
	}
	// Hourly 1 kWh readings over the spring-forward day and the next: 23 h and 24 h local days.
	start := time.Date(2024, 3, 10, 0, 0, 0, 0, la).Unix()
	var ts []int64
	var vs []float64
	for i := 0; i < 47; i++ {
		ts = append(ts, start+int64(i)*3600)
		vs = append(vs, 1)
	}
	a := aggregate(ts, vs, la, ResDay)
	if len(a.times) != 2 || a.sum[0] != 23 || a.sum[1] != 24 {
		t.Fatalf("daily sums %v at %v", a.sum, a.times)
	}
	if a.times[1] != time.Date(2024, 3, 11, 0, 0, 0, 0, la).Unix() {
		t.Fatalf("second day starts at %s", time.Unix(a.times[1], 0).In(la))
	}
	if a.total != 47 {
		t.Fatalf("total %v", a.total)
	}
}

func TestAggregatePowerMeanAndMax(t *testing.T) {
	ts := []int64{0, 900, 1800, 2700, 3600}
	vs := []float64{1, 3, 2, 6, 5}
	a := aggregate(ts, vs, time.UTC, ResHour)
	if len(a.times) != 2 || a.mean[0] != 3 || a.maxv[0] != 6 || a.mean[1] != 5 || a.maxv[1] != 5 {
		t.Fatalf("hour means %v maxima %v", a.mean, a.maxv)
	}
	if a.peak != 6 || a.peakAt != 2700 {
		t.Fatalf("peak %v at %d", a.peak, a.peakAt)
	}
	if quantityOf("", "kW") != quantityPower || quantityOf("", "kWh") != quantityEnergy || quantityOf("power", "") != quantityPower {
		t.Fatal("quantityOf")
	}
}

func TestRangeSpanAndUnits(t *testing.T) {
	last := time.Date(2024, 5, 15, 13, 0, 0, 0, time.UTC).Unix()
	f, to := rangeSpan(RangeMonth, 0, last, 1, time.UTC)
	if time.Unix(f, 0).UTC().Format(time.DateOnly) != "2024-03-16" || time.Unix(to, 0).UTC().Format(time.DateOnly) != "2024-04-16" {
		t.Fatalf("a month back: %s..%s", time.Unix(f, 0).UTC(), time.Unix(to, 0).UTC())
	}
	for _, tc := range []struct {
		unit, pref, want string
		factor           float64
	}{
		{"Wh", "kWh", "kWh", 0.001}, {"kWh", "Wh", "Wh", 1000}, {"W", "kWh", "kW", 0.001},
		{"m3", "kWh", "m³", 1}, {"therm", "kWh", "therm", 1}, {"kWh", "kWh", "kWh", 1},
	} {
		u, f := displayUnit(tc.unit, tc.pref)
		if u != tc.want || math.Abs(f-tc.factor) > 1e-12 {
			t.Errorf("displayUnit(%q, %q) = %q, %v", tc.unit, tc.pref, u, f)
		}
	}
	if loc := meterLocation("-08:00"); loc == nil || time.Unix(0, 0).In(loc).Hour() != 16 {
		t.Errorf("fixed offset zone: %v", loc)
	}
}

// aggregateByCalendar is aggregate asking the calendar for every reading, as it did before it
// remembered the bucket it is in: the reference for TestAggregateShortcut.
func aggregateByCalendar(ts []int64, vs []float64, loc *time.Location, res string) aggregated {
	var a aggregated
	a.peak = math.Inf(-1)
	cur := int64(math.MinInt64)
	for i, t := range ts {
		v := vs[i]
		a.total += v
		a.hasReading = true
		if v > a.peak {
			a.peak, a.peakAt = v, t
		}
		b := t
		if res != ResRaw {
			b = bucketStart(t, loc, res)
		}
		if b != cur || res == ResRaw {
			cur = b
			a.times = append(a.times, b)
			a.sum = append(a.sum, 0)
			a.maxv = append(a.maxv, math.Inf(-1))
			a.counts = append(a.counts, 0)
		}
		j := len(a.times) - 1
		a.sum[j] += v
		a.counts[j]++
		a.maxv[j] = math.Max(a.maxv[j], v)
	}
	a.mean = make([]float64, len(a.sum))
	for j := range a.sum {
		a.mean[j] = a.sum[j] / float64(a.counts[j])
	}
	return a
}

// TestAggregateShortcut: remembering the bucket gives exactly what asking the calendar for
// every reading gives, across clock changes of whole, half and quarter hours, for 15-minute,
// 5-minute and irregular readings with gaps.
func TestAggregateShortcut(t *testing.T) {
	zones := []string{"UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	steps := map[string]func(i int) int64{
		"15 min":    func(i int) int64 { return start + int64(i)*900 },
		"5 min":     func(i int) int64 { return start + int64(i)*300 },
		"irregular": func(i int) int64 { return start + int64(i)*1237 + int64(i/500)*86400 },
	}
	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for name, at := range steps {
			ts := make([]int64, 2*365*96)
			vs := make([]float64, len(ts))
			for i := range ts {
				ts[i], vs[i] = at(i), float64(i%97)
			}
			for _, res := range []string{ResRaw, ResHour, ResDay, ResWeek, ResMonth} {
				got, want := aggregate(ts, vs, loc, res), aggregateByCalendar(ts, vs, loc, res)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s, %s: %d buckets, want %d", zone, name, res, len(got.times), len(want.times))
				}
			}
		}
	}
}

func TestSeriesNameTellsResultsApart(t *testing.T) {
	// Two DataHub results of the same grid area and flow: the picker must not call both "Import".
	a := store.Series{Key: "D04/8716867000030/E17/PT15M/kWh", Flow: "forward", Attrs: map[string]string{"name": "Balance fixing · consumption"}}
	b := store.Series{Key: "D32:D02/8716867000030/E17/PT15M/kWh", Flow: "forward", Attrs: map[string]string{"name": "Wholesale fixing, 2nd correction · consumption"}}
	if seriesName(a) != "Balance fixing · consumption" || seriesName(b) != "Wholesale fixing, 2nd correction · consumption" {
		t.Errorf("names %q, %q", seriesName(a), seriesName(b))
	}
	if got := seriesName(store.Series{Key: "k", Flow: "forward"}); got != "Import" {
		t.Errorf("a series without a name is named by its flow, got %q", got)
	}
}

func TestPricesAreAveraged(t *testing.T) {
	if quantityOf("price", "DKK/kWh") != quantityPower {
		t.Error("a price series would be summed over a bucket")
	}
	if quantityOf("cost", "DKK") != quantityEnergy {
		t.Error("an amount series would not be summed over a bucket")
	}
}
