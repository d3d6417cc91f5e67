package app

import (
	"context"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"custody/store"
)

// ParquetRow is one reading as a row of the Parquet export: the CSV contract's columns with
// their names, typed. start is a UTC timestamp in microseconds, value and cost are null where
// the CSV leaves them empty, and the other text columns are dictionary-encoded strings (a
// meter's id repeats on every one of its rows).
type ParquetRow struct {
	Meter     string   `parquet:"meter,dict"`
	Series    string   `parquet:"series,dict"`
	Commodity string   `parquet:"commodity,dict"`
	Flow      string   `parquet:"flow,dict"`
	Unit      string   `parquet:"unit,dict"`
	Start     int64    `parquet:"start,timestamp(microsecond:utc)"`
	Seconds   int64    `parquet:"seconds"`
	Value     *float64 `parquet:"value,optional"`
	Quality   string   `parquet:"quality,dict"`
	Cost      *float64 `parquet:"cost,optional"`
	Currency  string   `parquet:"currency,dict"`
}

// parquetRowGroup is how many rows one row group holds. The writer keeps one row group in
// memory before it encodes and writes it out, so this bounds the export's memory whatever
// the number of readings (about 10 MB at 64 Ki rows), while staying large enough for
// readers to scan columns efficiently.
const parquetRowGroup = 64 << 10

// parquetBatch is how many rows are handed to the writer at once.
const parquetBatch = 1024

// exportParquet writes the selected readings as one Parquet file to w, streaming: memory is
// bounded by one row group, not by the number of readings.
func exportParquet(ctx context.Context, w io.Writer, st *store.Store, f store.ExportFilter) error {
	pw := parquet.NewGenericWriter[ParquetRow](w,
		parquet.Compression(&snappy.Codec{}),
		parquet.MaxRowsPerRowGroup(parquetRowGroup),
		parquet.CreatedBy("custody", "", ""),
	)
	batch := make([]ParquetRow, 0, parquetBatch)
	// values and costs back the nullable columns' pointers of the current batch.
	values := make([]float64, parquetBatch)
	costs := make([]float64, parquetBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := pw.Write(batch); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	err := st.ExportReadings(ctx, f, func(row store.ExportRow) error {
		r := row.Reading
		i := len(batch)
		pr := ParquetRow{
			Meter: row.Meter, Series: row.Series, Commodity: row.Commodity, Flow: row.Flow, Unit: row.Unit,
			Start: r.Start * 1_000_000, Seconds: r.Seconds, Quality: r.Quality, Currency: row.Currency,
		}
		if !r.Missing {
			values[i] = r.Value
			pr.Value = &values[i]
		}
		if r.HasCost {
			costs[i] = r.Cost
			pr.Cost = &costs[i]
		}
		batch = append(batch, pr)
		if len(batch) == parquetBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}
