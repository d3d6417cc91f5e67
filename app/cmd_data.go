package app

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"custody/store"
	"custody/sync/fileimport"
)

func init() {
	register(&command{
		name:    "import",
		args:    "FILE...",
		summary: "Import Green Button XML, CIM XML/JSON or Eloverblik JSON files; the format is detected from the content.",
		setup:   noFlags(runImport),
	})
	register(&command{
		name:    "export",
		args:    "[--format csv|json|parquet] [--from T] [--to T] [--meter ID] [--output FILE]",
		summary: "Write readings to standard output (or --output FILE): CSV with the header meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency, JSON Lines, or Parquet with the same columns typed.",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *exportFlags) {
			fs.StringVar(&o.format, "format", "csv", "csv, json (JSON Lines) or parquet")
			fs.StringVar(&o.output, "output", "", "write to this file instead of standard output (created with mode 0600)")
			fs.StringVar(&o.from, "from", "", "first reading start to include: RFC 3339 or YYYY-MM-DD (UTC)")
			fs.StringVar(&o.to, "to", "", "readings starting before this time: RFC 3339 or YYYY-MM-DD (UTC)")
			fs.StringVar(&o.meter, "meter", "", "only this meter's readings (its id as exported)")
		}, runExport),
	})
	register(&command{
		name:    "reprocess",
		args:    "[--all]",
		summary: "Parse archived payloads again (after a parser fix): the failed ones and those a crash left unparsed, or with --all every payload.",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *reprocessFlags) {
			fs.BoolVar(&o.all, "all", false, "reparse every archived payload, not only the failed and unparsed ones")
		}, runReprocess),
	})
}

func runImport(ctx context.Context, env *Env, c *invocation) error {
	if len(c.args) == 0 {
		return usageErr("name at least one file")
	}
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	progress := newProgressLine(env.Stderr)
	im := &fileimport.Importer{Store: st, Formats: env.Formats, Progress: progress.update, Batch: env.ImportBatch}
	failed := 0
	for _, path := range c.args {
		sum, err := im.Import(ctx, path)
		progress.clear()
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "%s: FAILED: %v\n", path, trimPrefix(err, "import "+path+": "))
			if sum.Archived {
				fmt.Fprintf(env.Stderr, "  the file is kept in the database's archive; `custody reprocess` parses it again after a fix\n")
			} else {
				fmt.Fprintf(env.Stderr, "  the file could not be archived, so nothing of it is in the database\n")
			}
			continue
		}
		if err := printSummary(env.Stdout, sum); err != nil {
			return fmt.Errorf("import: write the summary of %s: %w", path, err)
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "%d of %d files failed\n", failed, len(c.args))
		return errSilentFailure
	}
	return nil
}

func trimPrefix(err error, prefix string) string {
	return strings.TrimPrefix(err.Error(), prefix)
}

// printSummary writes one file's summary and returns the first write error, so that an import
// whose output cannot be written does not exit as if all was well.
func printSummary(w io.Writer, s fileimport.Summary) error {
	ew := &errWriter{w: w}
	if s.Unchanged {
		fmt.Fprintf(ew, "%s: %s, already imported: nothing changed\n", s.File, s.Format)
		return ew.err
	}
	fmt.Fprintf(ew, "%s: %s, %d meters, %d series, %d readings", s.File, s.Format, s.Meters, s.Series, s.Readings)
	if s.Messages > 0 {
		fmt.Fprintf(ew, ", %d messages", s.Messages)
	}
	if !s.From.IsZero() {
		fmt.Fprintf(ew, ", %s to %s", s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(ew, ", %d warnings\n", len(s.Warnings))
	for _, warn := range s.Warnings {
		fmt.Fprintf(ew, "  warning: %s\n", warn)
	}
	return ew.err
}

// errWriter keeps the first write error and writes nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// progressLine draws a one-line progress indicator for big files on a terminal-ish stream.
type progressLine struct {
	w     io.Writer
	last  time.Time
	shown bool
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w} }

// bigFile is the size from which imports show progress.
const bigFile = 8 << 20

func (p *progressLine) update(file string, read, size int64) {
	if size < bigFile || time.Since(p.last) < 500*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(p.w, "\r%s: %d%% (%d of %d MB)", file, read*100/max(size, 1), read>>20, size>>20)
}

func (p *progressLine) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// parseTimeFlag reads RFC 3339 or a date (UTC midnight).
func parseTimeFlag(name, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Unix(), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.Unix(), nil
	}
	return 0, usageErr("--%s %q is neither RFC 3339 (2024-01-31T00:00:00Z) nor a date (2024-01-31)", name, v)
}

// CSVHeader is the header row of the CSV contract in README.md ("custody export").
var CSVHeader = []string{"meter", "series", "commodity", "flow", "unit", "start", "seconds", "value", "quality", "cost", "currency"}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// exportFlags are the flags of `custody export`.
type exportFlags struct {
	format string // --format
	output string // --output
	from   string // --from
	to     string // --to
	meter  string // --meter
}

func runExport(ctx context.Context, env *Env, c *invocation, o *exportFlags) error {
	if len(c.args) > 0 {
		return usageErr("unexpected argument %q", c.args[0])
	}
	format := o.format
	if format != "csv" && format != "json" && format != "parquet" {
		return usageErr("--format must be csv, json or parquet, not %q", format)
	}
	output := o.output
	if format == "parquet" && output == "" && isTerminal(env.Stdout) {
		return usageErr("Parquet is a binary format: name a file with --output FILE or redirect standard output")
	}
	from, err := parseTimeFlag("from", o.from)
	if err != nil {
		return err
	}
	to, err := parseTimeFlag("to", o.to)
	if err != nil {
		return err
	}
	st, err := env.openStoreForReading(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.ExportFilter{From: from, To: to, Meter: o.meter}
	if output == "" {
		return exportTo(ctx, format, env.Stdout, st, f)
	}
	return writeFileAtomic(output, func(w io.Writer) error { return exportTo(ctx, format, w, st, f) })
}

// exportTo writes the selected readings to w in format (csv, json or parquet).
func exportTo(ctx context.Context, format string, w io.Writer, st *store.Store, f store.ExportFilter) error {
	switch format {
	case "json":
		return exportJSON(ctx, w, st, f)
	case "parquet":
		return exportParquet(ctx, w, st, f)
	}
	return exportCSV(ctx, w, st, f)
}

// isTerminal says whether w is a terminal, where binary output would only garble the screen.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeFileAtomic writes path through write: into a temporary file beside it (mode 0600, the
// data is personal), renamed over path only when everything was written, so a failed export
// never leaves a truncated file that looks complete.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("export to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("export to %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("export to %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("export to %s: %w", path, err)
	}
	return nil
}

// exportCSV writes the selected readings in the CSV contract to w.
func exportCSV(ctx context.Context, w io.Writer, st *store.Store, f store.ExportFilter) error {
	cw := newCSVExport(w)
	if err := cw.header(); err != nil {
		return err
	}
	err := st.ExportBySeries(ctx, f, cw.series, cw.reading)
	if ferr := cw.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// csvExport writes the CSV contract by hand: the columns a series shares are rendered once
// per series, and each reading's line is appended to one reused buffer. It writes exactly
// what encoding/csv would (a test compares them) at several times its speed, which an export
// of millions of readings needs (BENCHMARKS-export.md).
type csvExport struct {
	w        *bufio.Writer
	prefix   []byte // meter,series,commodity,flow,unit,
	currency []byte // ,currency
	line     []byte
	day      int64  // the day of dayText, in days since 1970
	dayText  []byte // YYYY-MM-DDT of day
	quality  map[string][]byte
}

func newCSVExport(w io.Writer) *csvExport {
	return &csvExport{w: bufio.NewWriterSize(w, 256<<10), day: math.MinInt64, quality: map[string][]byte{}}
}

func (c *csvExport) header() error {
	var b []byte
	for i, h := range CSVHeader {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, h)
	}
	_, err := c.w.Write(append(b, '\n'))
	return err
}

func (c *csvExport) series(sr store.ExportSeries) error {
	c.prefix = c.prefix[:0]
	for _, f := range []string{sr.Meter, sr.Series, sr.Commodity, sr.Flow, sr.Unit} {
		c.prefix = append(appendCSVField(c.prefix, f), ',')
	}
	c.currency = appendCSVField(append(c.currency[:0], ','), sr.Currency)
	return nil
}

func (c *csvExport) reading(r *store.Reading) error {
	b := append(c.line[:0], c.prefix...)
	b = c.appendStart(b, r.Start)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Seconds, 10)
	b = append(b, ',')
	if !r.Missing {
		b = strconv.AppendFloat(b, r.Value, 'f', -1, 64)
	}
	b = append(b, ',')
	if r.Quality != "" {
		q, ok := c.quality[r.Quality]
		if !ok {
			q = appendCSVField(nil, r.Quality)
			c.quality[r.Quality] = q
		}
		b = append(b, q...)
	}
	b = append(b, ',')
	if r.HasCost {
		b = strconv.AppendFloat(b, r.Cost, 'f', -1, 64)
	}
	b = append(append(b, c.currency...), '\n')
	c.line = b
	_, err := c.w.Write(b)
	return err
}

// appendStart appends start as RFC 3339 in UTC, reusing the date of the reading before.
func (c *csvExport) appendStart(b []byte, start int64) []byte {
	day, sec := start/86400, start%86400
	if sec < 0 {
		day, sec = day-1, sec+86400
	}
	if day != c.day {
		t := time.Unix(day*86400, 0).UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return time.Unix(start, 0).UTC().AppendFormat(b, time.RFC3339)
		}
		c.day, c.dayText = day, t.AppendFormat(c.dayText[:0], "2006-01-02T")
	}
	b = append(b, c.dayText...)
	h, m, s := sec/3600, sec/60%60, sec%60
	return append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z')
}

// appendCSVField appends one field as encoding/csv writes it (quoted when it holds a comma, a
// quote, a line break or starts with a space), with control characters from the data replaced
// by U+FFFD so that an export printed to a terminal cannot drive it.
func appendCSVField(b []byte, field string) []byte {
	field = safeText(field)
	if !csvNeedsQuotes(field) {
		return append(b, field...)
	}
	b = append(b, '"')
	for i := 0; i < len(field); i++ {
		if field[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, field[i])
	}
	return append(b, '"')
}

// csvNeedsQuotes is encoding/csv's rule for the comma delimiter.
func csvNeedsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` || strings.ContainsAny(field, ",\"\r\n") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r)
}

// safeText replaces what a terminal would take as a command (C0 and C1 control characters
// other than tab and line feed, and DEL) and invalid UTF-8 with U+FFFD. It returns s itself
// when it is clean, as it nearly always is.
func safeText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return r
		}
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func exportJSON(ctx context.Context, w io.Writer, st *store.Store, f store.ExportFilter) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	err := st.ExportReadings(ctx, f, func(row store.ExportRow) error {
		r := row.Reading
		// JSON escapes C0 controls but not C1 ones, which some terminals obey: safeText.
		obj := map[string]any{
			"meter": safeText(row.Meter), "series": safeText(row.Series), "commodity": safeText(row.Commodity), "flow": safeText(row.Flow),
			"unit": safeText(row.Unit), "start": time.Unix(r.Start, 0).UTC().Format(time.RFC3339), "seconds": r.Seconds,
			"value": nil, "quality": safeText(r.Quality), "cost": nil, "currency": safeText(row.Currency),
		}
		if !r.Missing {
			obj["value"] = json.Number(formatFloat(r.Value))
		}
		if r.HasCost {
			obj["cost"] = json.Number(formatFloat(r.Cost))
		}
		return enc.Encode(obj)
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// reprocessFlags are the flags of `custody reprocess`.
type reprocessFlags struct {
	all bool // --all
}

func runReprocess(ctx context.Context, env *Env, c *invocation, o *reprocessFlags) error {
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	ps, err := payloadsToReprocess(ctx, st, o.all)
	if err != nil {
		return err
	}
	im := &fileimport.Importer{Store: st, Formats: env.Formats}
	var ok, failed, skipped int
	for i := len(ps) - 1; i >= 0; i-- { // oldest first, so later corrections still win
		p := ps[i]
		if !strings.HasPrefix(p.URL, "file://") && !hasFormat(env.Formats, p.Format) {
			skipped++
			continue
		}
		sum, err := im.Reparse(ctx, p)
		if ie := (*fileimport.InterruptedError)(nil); errors.As(err, &ie) {
			// Not a failure of reprocessing: the file was never archived whole. Only importing
			// it again can bring in the rest.
			skipped++
			fmt.Fprintf(env.Stderr, "payload %d: %v (custody import %s)\n", p.ID, err, shellQuote(ie.File))
			continue
		}
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "payload %d (%s): FAILED: %v\n", p.ID, p.URL, err)
			continue
		}
		ok++
		fmt.Fprintf(env.Stdout, "payload %d: ", p.ID)
		if err := printSummary(env.Stdout, sum); err != nil {
			return fmt.Errorf("reprocess: write the summary of payload %d: %w", p.ID, err)
		}
	}
	fmt.Fprintf(env.Stdout, "reprocessed %d payloads, %d failed, %d skipped\n", ok, failed, skipped)
	if failed > 0 {
		return errSilentFailure
	}
	return nil
}

// payloadsToReprocess returns, newest first, every archived payload with --all, else those
// not parsed: the failed ones, and the ones left pending by a crash, a full disk or a busy
// database between archiving and parsing.
func payloadsToReprocess(ctx context.Context, st *store.Store, all bool) ([]store.Payload, error) {
	if all {
		return st.Payloads(ctx, store.PayloadFilter{})
	}
	var out []store.Payload
	for _, status := range []string{store.PayloadFailed, store.PayloadPending} {
		ps, err := st.Payloads(ctx, store.PayloadFilter{Status: status})
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	slices.SortFunc(out, func(a, b store.Payload) int { return cmp.Compare(b.ID, a.ID) })
	return out, nil
}

func hasFormat(fs []fileimport.Format, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}
