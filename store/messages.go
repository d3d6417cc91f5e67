package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Reason is a code and text a DataHub document gives, such as a rejection reason.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text,omitempty"`
}

// Message is one DataHub (CIM) document received, with what it brought in.
type Message struct {
	ID             int64
	SourceID       int64
	Source         string // the source's name, filled by queries
	MessageID      string
	Type           string // the document's root element name, such as NotifyValidatedMeasureData_MarketDocument
	Created        time.Time
	Received       time.Time
	Correlation    string
	Sender         string
	Receiver       string
	BusinessReason string
	Reasons        []Reason
	Readings       int64
	Error          string // why it could not be parsed; empty when it was
	Attrs          map[string]string
	PayloadID      int64
}

// PutMessage upserts a message by source and MessageId: a document delivered again replaces
// the record of the first delivery rather than doubling it.
func (t *Tx) PutMessage(m *Message) error {
	reasons, _ := json.Marshal(m.Reasons)
	if m.Reasons == nil {
		reasons = []byte("[]")
	}
	if m.Received.IsZero() {
		m.Received = t.s.Now()
	}
	err := t.queryRow(`INSERT INTO messages (source_id, message_id, type, created, received, correlation, sender, receiver,
			business_reason, reasons, readings, error, attrs, payload_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, message_id) DO UPDATE SET type = excluded.type, created = excluded.created,
			correlation = excluded.correlation, sender = excluded.sender, receiver = excluded.receiver,
			business_reason = excluded.business_reason, reasons = excluded.reasons, readings = excluded.readings,
			error = excluded.error, attrs = excluded.attrs, payload_id = excluded.payload_id
		RETURNING id`,
		nullSource(m.SourceID), m.MessageID, m.Type, nullTime(m.Created), m.Received.Unix(), m.Correlation, m.Sender,
		m.Receiver, m.BusinessReason, string(reasons), m.Readings, m.Error, marshalAttrs(m.Attrs), nullSource(m.PayloadID)).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("put message %s: %w", m.MessageID, err)
	}
	return nil
}

// MessageFilter selects messages.
type MessageFilter struct {
	Source      string // a source name; empty for any
	Type        string // a document type; empty for any
	Correlation string // a correlation id; empty for any
	Limit       int    // 0 for no limit
}

// Messages lists messages, newest received first.
func (s *Store) Messages(ctx context.Context, f MessageFilter) ([]Message, error) {
	q := `SELECT m.id, COALESCE(m.source_id, 0), COALESCE(s.name, ''), m.message_id, m.type, COALESCE(m.created, 0),
			m.received, m.correlation, m.sender, m.receiver, m.business_reason, m.reasons, m.readings, m.error, m.attrs,
			COALESCE(m.payload_id, 0)
		FROM messages m LEFT JOIN sources s ON s.id = m.source_id
		WHERE (? = '' OR s.name = ?) AND (? = '' OR m.type = ?) AND (? = '' OR m.correlation = ?)
		ORDER BY m.received DESC, m.id DESC`
	args := []any{f.Source, f.Source, f.Type, f.Type, f.Correlation, f.Correlation}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, s.db, "list messages", func(sc rowScanner) (Message, error) {
		var m Message
		var created, received int64
		var reasons, attrs string
		if err := sc.Scan(&m.ID, &m.SourceID, &m.Source, &m.MessageID, &m.Type, &created, &received, &m.Correlation,
			&m.Sender, &m.Receiver, &m.BusinessReason, &reasons, &m.Readings, &m.Error, &attrs, &m.PayloadID); err != nil {
			return m, err
		}
		_ = json.Unmarshal([]byte(reasons), &m.Reasons)
		m.Attrs = unmarshalAttrs(attrs)
		m.Created, m.Received = unixTime(created), unixTime(received)
		return m, nil
	}, q, args...)
}
