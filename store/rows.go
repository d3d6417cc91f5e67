package store

import (
	"database/sql"
	"strings"
	"sync"
)

// multiRowMax is the most rows one multi-row statement of a small write carries (a poll's
// acknowledgements): a longer run is written in pieces of this many, so that at most this
// many statement texts, one per row count, are prepared for each. One statement for ten rows
// instead of ten saves the per-statement cost of database/sql and of stepping and resetting
// a SQLite statement.
const multiRowMax = 16

// rowsKey identifies a multi-row statement text.
type rowsKey struct {
	head, row, tail string
	n               int
}

// rowsStatements memoises the texts rowsSQL builds (the statement cache is keyed by text).
var rowsStatements sync.Map // rowsKey → string

// rowsSQL returns head, n copies of row separated by commas, then tail.
func rowsSQL(head, row, tail string, n int) string {
	k := rowsKey{head, row, tail, n}
	if q, ok := rowsStatements.Load(k); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(head)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	q, _ := rowsStatements.LoadOrStore(k, b.String())
	return q.(string)
}

// queryEach runs a query inside the transaction and calls each for every row, holding the
// transaction's lock until the rows are closed.
func (t *Tx) queryEach(query string, each func(*sql.Rows) error, args ...any) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := t.stmtLocked(query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
