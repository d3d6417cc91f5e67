package store

import (
	"context"
	"database/sql"
)

// SummariesOf lists the usage summaries (bills) of a meter, oldest billing period first,
// with their line items; meterID 0 lists every meter's.
func (s *Store) SummariesOf(ctx context.Context, meterID int64) ([]UsageSummary, error) {
	// The summaries are read whole (their rows closed) before their line items are queried.
	out, err := queryAll(ctx, s.db, "list usage summaries", func(sc rowScanner) (UsageSummary, error) {
		var u UsageSummary
		var bill, toDate, extra sql.NullFloat64
		var status sql.NullInt64
		var attrs string
		if err := sc.Scan(&u.ID, &u.MeterID, &u.Key, &u.PeriodStart, &u.PeriodSeconds, &bill, &toDate, &extra,
			&u.Currency, &status, &attrs); err != nil {
			return u, err
		}
		u.BillLastPeriod, u.BillToDate, u.CostAdditionalLastPeriod = floatPtr(bill), floatPtr(toDate), floatPtr(extra)
		if status.Valid {
			v := status.Int64
			u.StatusTime = &v
		}
		u.Attrs = unmarshalAttrs(attrs)
		return u, nil
	}, `SELECT id, meter_id, key, period_start, period_seconds, bill_last_period,
			bill_to_date, cost_additional_last_period, currency, status_time, attrs
		FROM usage_summaries WHERE ? = 0 OR meter_id = ? ORDER BY meter_id, period_start, key`, meterID, meterID)
	if err != nil {
		return nil, err
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
	return queryAll(ctx, s.db, "list line items", func(sc rowScanner) (LineItem, error) {
		var it LineItem
		var amount, measurement sql.NullFloat64
		var attrs string
		err := sc.Scan(&it.Note, &amount, &it.ItemKind, &measurement, &it.Unit, &attrs)
		it.Amount, it.Measurement, it.Attrs = floatPtr(amount), floatPtr(measurement), unmarshalAttrs(attrs)
		return it, err
	}, `SELECT note, amount, item_kind, measurement, unit, attrs
		FROM summary_line_items WHERE summary_id = ? ORDER BY position`, summaryID)
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
	return queryAll(ctx, s.db, "list customer info", func(sc rowScanner) (CustomerInfo, error) {
		var c CustomerInfo
		var data string
		err := sc.Scan(&c.SourceID, &c.Kind, &c.Key, &data)
		c.Data = unmarshalAttrs(data)
		return c, err
	}, `SELECT COALESCE(source_id, 0), kind, key, data FROM customer_info ORDER BY key`)
}

// DocumentsOf lists the stored documents of a kind (such as "Authorization"), by key; an
// empty kind lists all.
func (s *Store) DocumentsOf(ctx context.Context, kind string) ([]Document, error) {
	return queryAll(ctx, s.db, "list documents", func(sc rowScanner) (Document, error) {
		var d Document
		var data string
		err := sc.Scan(&d.SourceID, &d.Kind, &d.Key, &data)
		d.Data = unmarshalAttrs(data)
		return d, err
	}, `SELECT COALESCE(source_id, 0), kind, key, data FROM documents
		WHERE ? = '' OR kind = ? ORDER BY kind, key`, kind, kind)
}
