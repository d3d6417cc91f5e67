package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"

	"modernc.org/sqlite"

	"custody/store/internal/dayblob"
)

// kbnSum adds floats the way SQLite's SUM() does (Kahan-Babuška-Neumaier), so that sums
// computed here equal those the row-per-reading schema gave to the last bit.
type kbnSum struct{ sum, err float64 }

func (k *kbnSum) add(r float64) {
	t := k.sum + r
	if math.Abs(k.sum) > math.Abs(r) {
		k.err += (k.sum - t) + r
	} else {
		k.err += (r - t) + k.sum
	}
	k.sum = t
}

func (k *kbnSum) value() float64 {
	if math.IsNaN(k.err) {
		return k.sum
	}
	return k.sum + k.err
}

// packReadingDay is the SQL aggregate custody_pack_reading_day(start, seconds, value, quality,
// cost, tou) that migration 2000 uses to move the rows of the old readings table into
// reading_days, one group per series and day.
type packReadingDay struct {
	rs []Reading
}

func (p *packReadingDay) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if len(args) != 6 {
		return fmt.Errorf("pack readings: %d arguments", len(args))
	}
	var r Reading
	var ok bool
	if r.Start, ok = args[0].(int64); !ok {
		return fmt.Errorf("pack readings: start is %T", args[0])
	}
	r.Seconds, _ = args[1].(int64)
	switch v := args[2].(type) {
	case float64:
		r.Value = v
	case int64:
		r.Value = float64(v)
	default:
		r.Missing = true
	}
	switch q := args[3].(type) {
	case string:
		r.Quality = q
	case []byte:
		r.Quality = string(q)
	}
	switch c := args[4].(type) {
	case float64:
		r.Cost, r.HasCost = c, true
	case int64:
		r.Cost, r.HasCost = float64(c), true
	}
	if t, ok := args[5].(int64); ok {
		r.TOU, r.HasTOU = t, true
	}
	p.rs = append(p.rs, r)
	return nil
}

func (p *packReadingDay) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return errors.New("pack readings: not a window function")
}

// WindowValue is the packed day: SQLite asks it for the aggregate's result after Final.
func (p *packReadingDay) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	if len(p.rs) == 0 {
		return nil, nil
	}
	rs := dayblob.Merge(nil, nil, p.rs) // sorted; the table's key kept starts distinct
	return dayblob.Append(nil, dayblob.DayOf(rs[0].Start), rs), nil
}

func (p *packReadingDay) Final(*sqlite.FunctionContext) {}

func init() {
	sqlite.MustRegisterFunction("custody_pack_reading_day", &sqlite.FunctionImpl{
		NArgs:         6,
		Deterministic: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) {
			return &packReadingDay{}, nil
		},
	})
}
