package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Summaries lists the usage summaries (bills) of a meter with their line items, newest period
// first.
func (s *Store) Summaries(ctx context.Context, meterID int64) ([]UsageSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, meter_id, key, period_start, period_seconds, bill_last_period,
			bill_to_date, cost_additional_last_period, currency, status_time, attrs
		FROM usage_summaries WHERE meter_id = ? ORDER BY period_start DESC, key`, meterID)
	if err != nil {
		return nil, fmt.Errorf("usage summaries of meter %d: %w", meterID, err)
	}
	var out []UsageSummary
	for rows.Next() {
		var u UsageSummary
		var last, toDate, additional sql.NullFloat64
		var status sql.NullInt64
		var attrs string
		if err := rows.Scan(&u.ID, &u.MeterID, &u.Key, &u.PeriodStart, &u.PeriodSeconds, &last, &toDate, &additional,
			&u.Currency, &status, &attrs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("usage summaries of meter %d: %w", meterID, err)
		}
		u.BillLastPeriod, u.BillToDate, u.CostAdditionalLastPeriod = floatPtr(last), floatPtr(toDate), floatPtr(additional)
		if status.Valid {
			v := status.Int64
			u.StatusTime = &v
		}
		u.Attrs = unmarshalAttrs(attrs)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage summaries of meter %d: %w", meterID, err)
	}
	for i := range out {
		items, err := s.lineItems(ctx, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].Items = items
	}
	return out, nil
}

func (s *Store) lineItems(ctx context.Context, summaryID int64) ([]LineItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT note, amount, item_kind, measurement, unit, attrs
		FROM summary_line_items WHERE summary_id = ? ORDER BY position`, summaryID)
	if err != nil {
		return nil, fmt.Errorf("line items of summary %d: %w", summaryID, err)
	}
	defer rows.Close()
	var out []LineItem
	for rows.Next() {
		var it LineItem
		var amount, measurement sql.NullFloat64
		var attrs string
		if err := rows.Scan(&it.Note, &amount, &it.ItemKind, &measurement, &it.Unit, &attrs); err != nil {
			return nil, fmt.Errorf("line items of summary %d: %w", summaryID, err)
		}
		it.Amount, it.Measurement = floatPtr(amount), floatPtr(measurement)
		it.Attrs = unmarshalAttrs(attrs)
		out = append(out, it)
	}
	return out, rows.Err()
}

func floatPtr(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}
