package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SummariesOf lists the usage summaries (bills) of a meter, oldest billing period first,
// with their line items; meterID 0 lists every meter's.
func (s *Store) SummariesOf(ctx context.Context, meterID int64) ([]UsageSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, meter_id, key, period_start, period_seconds, bill_last_period,
			bill_to_date, cost_additional_last_period, currency, status_time, attrs
		FROM usage_summaries WHERE ? = 0 OR meter_id = ? ORDER BY meter_id, period_start, key`, meterID, meterID)
	if err != nil {
		return nil, fmt.Errorf("list usage summaries: %w", err)
	}
	var out []UsageSummary
	for rows.Next() {
		var u UsageSummary
		var bill, toDate, extra sql.NullFloat64
		var status sql.NullInt64
		var attrs string
		if err := rows.Scan(&u.ID, &u.MeterID, &u.Key, &u.PeriodStart, &u.PeriodSeconds, &bill, &toDate, &extra,
			&u.Currency, &status, &attrs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list usage summaries: %w", err)
		}
		u.BillLastPeriod, u.BillToDate, u.CostAdditionalLastPeriod = floatPtr(bill), floatPtr(toDate), floatPtr(extra)
		if status.Valid {
			v := status.Int64
			u.StatusTime = &v
		}
		u.Attrs = unmarshalAttrs(attrs)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list usage summaries: %w", err)
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
		return nil, fmt.Errorf("list line items: %w", err)
	}
	defer rows.Close()
	var out []LineItem
	for rows.Next() {
		var it LineItem
		var amount, measurement sql.NullFloat64
		var attrs string
		if err := rows.Scan(&it.Note, &amount, &it.ItemKind, &measurement, &it.Unit, &attrs); err != nil {
			return nil, fmt.Errorf("list line items: %w", err)
		}
		it.Amount, it.Measurement, it.Attrs = floatPtr(amount), floatPtr(measurement), unmarshalAttrs(attrs)
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

// CustomerInfos lists the stored personal data records, by key. They are for showing to
// their owner; never log them.
func (s *Store) CustomerInfos(ctx context.Context) ([]CustomerInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT COALESCE(source_id, 0), kind, key, data FROM customer_info ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("list customer info: %w", err)
	}
	defer rows.Close()
	var out []CustomerInfo
	for rows.Next() {
		var c CustomerInfo
		var data string
		if err := rows.Scan(&c.SourceID, &c.Kind, &c.Key, &data); err != nil {
			return nil, fmt.Errorf("list customer info: %w", err)
		}
		c.Data = unmarshalAttrs(data)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DocumentsOf lists the stored documents of a kind (such as "Authorization"), by key; an
// empty kind lists all.
func (s *Store) DocumentsOf(ctx context.Context, kind string) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT COALESCE(source_id, 0), kind, key, data FROM documents
		WHERE ? = '' OR kind = ? ORDER BY kind, key`, kind, kind)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		var d Document
		var data string
		if err := rows.Scan(&d.SourceID, &d.Kind, &d.Key, &data); err != nil {
			return nil, fmt.Errorf("list documents: %w", err)
		}
		d.Data = unmarshalAttrs(data)
		out = append(out, d)
	}
	return out, rows.Err()
}
