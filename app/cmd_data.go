package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"custody/store"
	"custody/sync/fileimport"
)

func init() {
	register(&command{
		name:    "import",
		args:    "FILE...",
		summary: "Import Green Button XML, CIM XML/JSON or Eloverblik JSON files; the format is detected from the content.",
		run:     runImport,
	})
	register(&command{
		name:    "export",
		args:    "[--format csv|json] [--from T] [--to T] [--meter ID]",
		summary: "Write readings to standard output: CSV with the header meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency, or JSON Lines.",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defString("format", "csv", "csv or json (JSON Lines)")
			c.defString("from", "", "first reading start to include: RFC 3339 or YYYY-MM-DD (UTC)")
			c.defString("to", "", "readings starting before this time: RFC 3339 or YYYY-MM-DD (UTC)")
			c.defString("meter", "", "only this meter's readings (its id as exported)")
		},
		run: runExport,
	})
	register(&command{
		name:    "reprocess",
		args:    "[--all]",
		summary: "Parse archived payloads again (after a parser fix): the failed ones, or with --all every file payload.",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defBool("all", false, "reparse every archived payload, not only the failed ones")
		},
		run: runReprocess,
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
	im := &fileimport.Importer{Store: st, Formats: env.Formats, Progress: progress.update}
	failed := 0
	for _, path := range c.args {
		sum, err := im.Import(ctx, path)
		progress.clear()
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "%s: FAILED: %v\n", path, trimPrefix(err, "import "+path+": "))
			fmt.Fprintf(env.Stderr, "  the file is archived in the database; nothing of it was imported\n")
			continue
		}
		printSummary(env.Stdout, sum)
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

func printSummary(w io.Writer, s fileimport.Summary) {
	if s.Unchanged {
		fmt.Fprintf(w, "%s: %s, already imported: nothing changed\n", s.File, s.Format)
		return
	}
	fmt.Fprintf(w, "%s: %s, %d meters, %d series, %d readings", s.File, s.Format, s.Meters, s.Series, s.Readings)
	if s.Messages > 0 {
		fmt.Fprintf(w, ", %d messages", s.Messages)
	}
	if !s.From.IsZero() {
		fmt.Fprintf(w, ", %s to %s", s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, ", %d warnings\n", len(s.Warnings))
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
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

// CSVHeader is the header row of the CSV contract in DESIGN.md.
var CSVHeader = []string{"meter", "series", "commodity", "flow", "unit", "start", "seconds", "value", "quality", "cost", "currency"}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func runExport(ctx context.Context, env *Env, c *invocation) error {
	if len(c.args) > 0 {
		return usageErr("unexpected argument %q", c.args[0])
	}
	format := c.str("format")
	if format != "csv" && format != "json" {
		return usageErr("--format must be csv or json, not %q", format)
	}
	from, err := parseTimeFlag("from", c.str("from"))
	if err != nil {
		return err
	}
	to, err := parseTimeFlag("to", c.str("to"))
	if err != nil {
		return err
	}
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.ExportFilter{From: from, To: to, Meter: c.str("meter")}
	if format == "json" {
		return exportJSON(ctx, env.Stdout, st, f)
	}
	return exportCSV(ctx, env.Stdout, st, f)
}

// csvRecord renders one reading per the CSV contract.
func csvRecord(row store.ExportRow, rec []string) []string {
	r := row.Reading
	value, cost := "", ""
	if !r.Missing {
		value = formatFloat(r.Value)
	}
	if r.HasCost {
		cost = formatFloat(r.Cost)
	}
	return append(rec[:0], termSafe(row.Meter), termSafe(row.Series), termSafe(row.Commodity), termSafe(row.Flow), termSafe(row.Unit),
		time.Unix(r.Start, 0).UTC().Format(time.RFC3339), strconv.FormatInt(r.Seconds, 10),
		value, termSafe(r.Quality), cost, termSafe(row.Currency))
}

// termSafe returns s fit for a terminal: every control character (C0, DEL, C1) and every
// byte that is not UTF-8 becomes U+FFFD. Data come from files and servers; an href holding
// "ESC ] 0 ;" would otherwise retitle the user's terminal, or worse, when exported. CSV has
// no escape of its own, so the character is replaced; the importers refuse such bytes, so
// only a database written before that can hold them.
func termSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return termSafeSlow(s)
		}
	}
	return s
}

func termSafeSlow(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError && size == 1 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// jsonTermSafe escapes in encoded JSON what encoding/json leaves raw but a terminal may act
// on: DEL and the C1 controls (U+0080–U+009F, such as U+009B, a one-character CSI). They only
// occur inside strings, where \u escapes keep the data exact.
type jsonTermSafe struct{ w io.Writer }

func (j jsonTermSafe) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0x7f) < 0 && bytes.IndexByte(p, 0xc2) < 0 {
		return j.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == 0x7f:
			out = append(out, `\u007f`...)
		case p[i] == 0xc2 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, p[i+1])
			i++
		default:
			out = append(out, p[i])
		}
	}
	if _, err := j.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ExportCSV writes the selected readings in the CSV contract to w.
func exportCSV(ctx context.Context, w io.Writer, st *store.Store, f store.ExportFilter) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	rec := make([]string, 0, len(CSVHeader))
	err := st.ExportReadings(ctx, f, func(row store.ExportRow) error {
		rec = csvRecord(row, rec)
		return cw.Write(rec)
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

func exportJSON(ctx context.Context, w io.Writer, st *store.Store, f store.ExportFilter) error {
	// encoding/json already writes C0 controls as \u escapes and bad UTF-8 as U+FFFD.
	enc := json.NewEncoder(jsonTermSafe{w})
	return st.ExportReadings(ctx, f, func(row store.ExportRow) error {
		r := row.Reading
		obj := map[string]any{
			"meter": row.Meter, "series": row.Series, "commodity": row.Commodity, "flow": row.Flow,
			"unit": row.Unit, "start": time.Unix(r.Start, 0).UTC().Format(time.RFC3339), "seconds": r.Seconds,
			"value": nil, "quality": r.Quality, "cost": nil, "currency": row.Currency,
		}
		if !r.Missing {
			obj["value"] = json.Number(formatFloat(r.Value))
		}
		if r.HasCost {
			obj["cost"] = json.Number(formatFloat(r.Cost))
		}
		return enc.Encode(obj)
	})
}

func runReprocess(ctx context.Context, env *Env, c *invocation) error {
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	filter := store.PayloadFilter{Status: store.PayloadFailed}
	if c.boolean("all") {
		filter.Status = ""
	}
	ps, err := st.Payloads(ctx, filter)
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
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "payload %d (%s): FAILED: %v\n", p.ID, p.URL, err)
			continue
		}
		ok++
		fmt.Fprintf(env.Stdout, "payload %d: ", p.ID)
		printSummary(env.Stdout, sum)
	}
	fmt.Fprintf(env.Stdout, "reprocessed %d payloads, %d failed, %d skipped\n", ok, failed, skipped)
	if failed > 0 {
		return errSilentFailure
	}
	return nil
}

func hasFormat(fs []fileimport.Format, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}
