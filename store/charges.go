package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Charge is a price that applies to a metering point: a tariff per kWh (one price for the
// whole day, or one per hour of the local day), or a subscription or fee per period.
type Charge struct {
	MeterID  int64
	Kind     string // tariff, subscription, fee
	Name     string
	Owner    string
	From     time.Time // zero when not given
	To       time.Time // zero while open-ended
	Period   string    // the custodian's period type, such as P1H or P1D
	Currency string
	// Prices are the prices by position: one for a whole-day tariff or a subscription, 24
	// (positions 1..24, hour 0..23 of the local day) for an hourly tariff.
	Prices      []float64
	Quantity    int64
	Description string
}

// PriceAt is the charge's price per unit at local hour h (0..23): the hour's price of an
// hourly tariff, else the single price.
func (c Charge) PriceAt(h int) float64 {
	switch {
	case len(c.Prices) == 0:
		return 0
	case len(c.Prices) >= 24 && h >= 0 && h < len(c.Prices):
		return c.Prices[h]
	}
	return c.Prices[0]
}

// ReplaceCharges replaces every charge of the meter with cs: the custodian's answer lists all
// that apply now or later.
func (t *Tx) ReplaceCharges(meterID int64, cs []Charge) error {
	if _, err := t.exec(`DELETE FROM charges WHERE meter_id = ?`, meterID); err != nil {
		return fmt.Errorf("replace charges: %w", err)
	}
	for _, c := range cs {
		prices, _ := json.Marshal(c.Prices) // a []float64 of finite numbers always marshals
		var to sql.NullInt64
		if !c.To.IsZero() {
			to = sql.NullInt64{Int64: c.To.Unix(), Valid: true}
		}
		var from int64
		if !c.From.IsZero() {
			from = c.From.Unix()
		}
		if c.Currency == "" {
			c.Currency = "DKK"
		}
		if _, err := t.exec(`INSERT INTO charges (meter_id, kind, name, owner, valid_from, valid_to, period, currency, prices, quantity, description, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (meter_id, kind, name, owner, valid_from) DO UPDATE SET valid_to = excluded.valid_to,
				period = excluded.period, currency = excluded.currency, prices = excluded.prices,
				quantity = excluded.quantity, description = excluded.description, updated = excluded.updated`,
			meterID, c.Kind, c.Name, c.Owner, from, to, c.Period, c.Currency, string(prices), c.Quantity, c.Description, t.now()); err != nil {
			return fmt.Errorf("put charge %s: %w", c.Name, err)
		}
	}
	return nil
}

// ChargesOf returns the charges of a meter, tariffs first, then by name and start.
func (s *Store) ChargesOf(ctx context.Context, meterID int64) ([]Charge, error) {
	return queryAll(ctx, s.db, fmt.Sprintf("charges of meter %d", meterID), func(sc rowScanner) (Charge, error) {
		var c Charge
		var from int64
		var to sql.NullInt64
		var prices string
		if err := sc.Scan(&c.MeterID, &c.Kind, &c.Name, &c.Owner, &from, &to, &c.Period, &c.Currency, &prices, &c.Quantity, &c.Description); err != nil {
			return c, err
		}
		if from != 0 {
			c.From = unixTime(from)
		}
		if to.Valid {
			c.To = unixTime(to.Int64)
		}
		_ = json.Unmarshal([]byte(prices), &c.Prices)
		return c, nil
	}, `SELECT meter_id, kind, name, owner, valid_from, valid_to, period, currency, prices, quantity, description
		FROM charges WHERE meter_id = ? ORDER BY kind = 'tariff' DESC, kind, name, valid_from`, meterID)
}

// TariffPerUnit is the sum of the meter's tariffs in force at t, per unit of energy, for the
// local hour h (0..23) of t, and the currency; ok is false when the meter has no tariff then.
func TariffPerUnit(cs []Charge, t time.Time, h int) (sum float64, currency string, ok bool) {
	for _, c := range cs {
		if c.Kind != "tariff" || (!c.From.IsZero() && t.Before(c.From)) || (!c.To.IsZero() && !t.Before(c.To)) {
			continue
		}
		sum += c.PriceAt(h)
		currency, ok = c.Currency, true
	}
	return sum, currency, ok
}

// UpsertMeterKeepName is UpsertMeter, except that m.Name only names a meter that has no name
// yet: readings do not rename a meter its master data named.
func (t *Tx) UpsertMeterKeepName(m *Meter) error {
	err := t.queryRow(`INSERT INTO meters (key, source_id, name, commodity, time_zone, attrs, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			source_id = COALESCE(excluded.source_id, meters.source_id),
			name = CASE WHEN meters.name = '' THEN excluded.name ELSE meters.name END,
			commodity = CASE WHEN excluded.commodity != '' THEN excluded.commodity ELSE meters.commodity END,
			time_zone = CASE WHEN excluded.time_zone != '' THEN excluded.time_zone ELSE meters.time_zone END,
			attrs = json_patch(meters.attrs, excluded.attrs),
			updated = excluded.updated
		RETURNING id`,
		m.Key, nullSource(m.SourceID), m.Name, m.Commodity, m.TimeZone, marshalAttrs(m.Attrs), t.now()).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("upsert meter: %w", err)
	}
	return nil
}

// TakeCall records a call under key, such as a custodian's token endpoint, when fewer than
// limit calls were recorded under key in the period before now, and returns 0; otherwise it
// records nothing and returns how long to wait until a call is allowed. The record is shared by
// every process using the database, so a limit holds across restarts.
func (s *Store) TakeCall(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (time.Duration, error) {
	tx, err := s.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("call limit %s: %w", key, err)
	}
	defer tx.Rollback()
	since := now.Add(-per).UnixMilli()
	if _, err := tx.exec(`DELETE FROM call_log WHERE key = ? AND at_ms <= ?`, key, since); err != nil {
		return 0, fmt.Errorf("call limit %s: %w", key, err)
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT at_ms FROM call_log WHERE key = ? ORDER BY at_ms`, key)
	if err != nil {
		return 0, fmt.Errorf("call limit %s: %w", key, err)
	}
	at, err := scanAll(rows, func(sc rowScanner) (int64, error) {
		var v int64
		err := sc.Scan(&v)
		return v, err
	})
	if err != nil {
		return 0, fmt.Errorf("call limit %s: %w", key, err)
	}
	if len(at) >= limit {
		// The call waits until the oldest of the last limit calls leaves the period.
		oldest := at[len(at)-limit]
		return time.Duration(oldest-since) * time.Millisecond, nil
	}
	if _, err := tx.exec(`INSERT INTO call_log (key, at_ms) VALUES (?, ?)`, key, now.UnixMilli()); err != nil {
		return 0, fmt.Errorf("call limit %s: %w", key, err)
	}
	return 0, tx.Commit()
}
