package store

import (
	"context"
	"database/sql"
	"fmt"
)

// rowScanner is what scanning one row needs; *sql.Row and *sql.Rows both have it, so one scan
// function serves a lookup by key and a listing.
type rowScanner = interface {
	Scan(dest ...any) error
}

// scanAll scans every row with scan and closes rows. It is the one loop behind the store's
// listings, so none of them can forget rows.Close or rows.Err.
func scanAll[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// queryAll runs a query on the database and scans all its rows with scan; op names the
// operation in the error ("list meters").
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out, err := scanAll(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
