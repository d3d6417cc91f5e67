package datahub

import (
	"context"
	"fmt"
	"io"

	"custody/store"
	"custody/sync/fileimport"
)

// Format names of the archive.
const (
	FormatXML  = "cim-xml"
	FormatJSON = "cim-json"
)

// Parse reads a CIM document in the given archive format (FormatXML or FormatJSON).
func Parse(format string, r io.Reader) (*Document, error) {
	if format == FormatJSON {
		return ParseJSON(r)
	}
	return ParseXML(r)
}

// Import reads a CIM document in the given archive format from r and writes it through tx as
// it is read (see [Put]): a period's points go to the store batch by batch, so memory stays
// bounded whatever the document's size. The document returned holds the header and each
// series' fields, without points; it is returned, as far as it was read, with an error too.
// An error of the database is a [*StoreError]; any other error is the document's.
func Import(tx *store.Tx, format string, r io.Reader, o PutOptions) (*Document, PutResult, error) {
	w := newWriter(tx, o)
	var d *Document
	var err error
	if format == FormatJSON {
		d, err = parseJSON(r, w)
	} else {
		d, err = parseXML(r, w)
	}
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return d, w.res, err
	}
	res, err := w.finish(d)
	return d, res, err
}

// XMLFormat is CIM XML for `custody import`.
func XMLFormat() fileimport.Format {
	return fileimport.Format{Name: FormatXML, Detect: LooksLikeXML, Parse: importer(FormatXML)}
}

// JSONFormat is CIM JSON for `custody import`.
func JSONFormat() fileimport.Format {
	return fileimport.Format{Name: FormatJSON, Detect: LooksLikeJSON, Parse: importer(FormatJSON)}
}

func importer(format string) func(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
	return func(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
		var sum fileimport.Summary
		cr := &fileimport.ProgressReader{R: r, Progress: progress}
		_, res, err := Import(tx, format, cr, PutOptions{SourceID: p.SourceID, PayloadID: p.ID})
		if err != nil {
			return sum, err
		}
		sum.Meters, sum.Series, sum.Readings, sum.Messages = res.Meters, res.Series, res.Readings, 1
		sum.From, sum.To, sum.Warnings = res.From, res.To, res.Warnings
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("import cancelled: %w", err)
		}
		return sum, nil
	}
}
