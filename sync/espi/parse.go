// Package espi reads Green Button (NAESB REQ.21 ESPI) Atom documents into the store: the
// files people download from their utility ("Download My Data") and what a Data Custodian
// serves to a third party (Batch/Bulk, Batch/Subscription, single resources).
//
// The parser streams: it reads the document entry by entry and keeps only what it needs to
// link resources together (UsagePoints, MeterReadings, ReadingTypes, LocalTimeParameters)
// and the readings still waiting for their ReadingType. Resources are linked by their self,
// up and related hrefs in whatever order they come; elements are matched by namespace URI,
// never by prefix. Values are stored in the unit the ReadingType declares, with its
// power-of-ten multiplier applied; costs in whole currency units.
package espi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"custody/store"
	"custody/sync/fileimport"
	"custody/sync/internal/xmlscan"
)

// FormatName is the archive format name of ESPI documents.
const FormatName = "espi"

// Format returns the `custody import` file format of Green Button ESPI XML.
func Format() fileimport.Format {
	return fileimport.Format{Name: FormatName, Detect: Detect, Parse: Parse}
}

// espiHints are resource names whose presence in an Atom document's head marks it as ESPI
// even when the ESPI namespace is declared further down.
var espiHints = [][]byte{[]byte("UsagePoint"), []byte("IntervalBlock"), []byte("ReadingType"),
	[]byte("MeterReading"), []byte("UsageSummary"), []byte("LocalTimeParameters"),
	[]byte("ApplicationInformation"), []byte("Authorization"), []byte("RetailCustomer")}

// Detect says whether head, the start of a file, is ESPI XML: it declares the
// http://naesb.org/espi namespace, or it is an Atom feed or entry naming ESPI resources.
func Detect(head []byte) bool {
	if bytes.Contains(head, []byte("http://naesb.org/espi")) {
		return true
	}
	if !bytes.Contains(head, []byte(nsAtom)) {
		return false
	}
	for _, h := range espiHints {
		if bytes.Contains(head, h) {
			return true
		}
	}
	return false
}

// Parse reads one ESPI document from r and writes what it holds through tx: meters (with
// SourceID p.SourceID), series and readings, usage summaries, customer information and
// descriptive documents. It does not commit. A document that is not well-formed XML, is
// truncated, or whose readings cannot be placed in time is an error naming the entry and
// the reason; the caller rolls the transaction back. progress, when not nil, is called now
// and then with the number of bytes read.
func Parse(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(read int64)) (fileimport.Summary, error) {
	if tx == nil {
		return fileimport.Summary{Format: FormatName}, errors.New("espi: parse: no transaction")
	}
	return parse(ctx, tx, p, r, progress)
}

// parse is Parse; a nil tx parses without storing anything (for benchmarks).
func parse(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(read int64)) (fileimport.Summary, error) {
	d := newDecoder(ctx, p)
	defer d.closeSpill()
	cr := &fileimport.ProgressReader{R: r, Progress: progress}
	body, err := decodeCharset(cr)
	if err != nil {
		return fileimport.Summary{Format: FormatName}, fmt.Errorf("espi: %w", err)
	}
	d.s = xmlscan.New(body)
	d.startWriter(tx)
	err = d.run()
	if err == nil {
		err = d.finish()
	}
	if werr := d.stopWriter(); werr != nil {
		err = werr // the database failed: that is the cause, whatever the parser said after
	}
	if progress != nil {
		progress(cr.N)
	}
	sum := d.summary()
	if err != nil {
		return sum, fmt.Errorf("espi: %w", err)
	}
	return sum, nil
}

// decoder is the state of one Parse.
type decoder struct {
	ctx context.Context
	p   store.Payload
	s   *xmlscan.Scanner

	entries int
	warn    warnings

	meters      map[string]*meterState // by normalised UsagePoint href
	meterList   []*meterState
	related     map[string]*meterState // the hrefs UsagePoints list as related, to their UsagePoint
	mrs         map[string]*mrState
	mrRelated   map[string]*mrState // the hrefs MeterReadings list as related (their blocks), to them
	finishing   bool                // the whole document has been read: linking may now guess
	mrList      []*mrState
	rts         map[string]*readingType
	rtsByLast   map[string][]*readingType
	ltps        map[string]*timeZone
	pending     map[string][]*pendingBlocks // by normalised MeterReading href ("" for none)
	spare       []rawReading
	pendingList []string
	series      []*seriesState
	qualities   map[string]uint16 // quality code strings, to 1 + their index in qualityList
	qualityList []string
	lastQuality uint16 // the quality index last looked up, 0 for none
	extras      []rawExtra
	pendingN    int               // blocks waiting in pending
	pendingMem  int               // readings of those blocks held in memory (the rest are spilled)
	spillF      *spillFile        // waiting readings beyond maxPendingInMemory, nil until needed
	unspilled   []rawReading      // scratch for readings read back from spillF
	hrefs       map[string]string // MeterReading hrefs of waiting blocks, shared
	conv        []store.Reading   // scratch for converting one entry's readings
	batch       []store.Reading   // readings gathered for batchSeries
	batchSeries *seriesState

	// The writer goroutine owns tx; the parser hands it work in order.
	ops  chan func(*store.Tx) error
	free chan []store.Reading // batches the writer is done with, for the parser to fill again
	// noStore is set for a nil transaction: readings are built and dropped.
	noStore bool
	done    chan error
	failed  atomic.Bool
}

func newDecoder(ctx context.Context, p store.Payload) *decoder {
	return &decoder{
		ctx: ctx, p: p,
		meters: map[string]*meterState{}, related: map[string]*meterState{},
		mrs: map[string]*mrState{}, mrRelated: map[string]*mrState{}, rts: map[string]*readingType{}, rtsByLast: map[string][]*readingType{},
		ltps: map[string]*timeZone{}, pending: map[string][]*pendingBlocks{}, qualities: map[string]uint16{},
	}
}

func (d *decoder) startWriter(tx *store.Tx) {
	d.noStore = tx == nil
	d.ops = make(chan func(*store.Tx) error, 32)
	d.free = make(chan []store.Reading, 40)
	d.done = make(chan error, 1)
	go func() {
		var err error
		for op := range d.ops {
			if err != nil || tx == nil { // a nil tx discards the work (parse-only benchmarks)
				continue
			}
			if err = op(tx); err != nil {
				d.failed.Store(true)
			}
		}
		d.done <- err
	}()
}

func (d *decoder) stopWriter() error {
	close(d.ops)
	return <-d.done
}

// do hands op to the writer.
func (d *decoder) do(op func(*store.Tx) error) { d.ops <- op }

// summary is what the document brought in, as `custody import` prints it.
func (d *decoder) summary() fileimport.Summary {
	sum := fileimport.Summary{Format: FormatName, Meters: len(d.meterList), Warnings: d.warn.list()}
	var from, to int64
	for _, sr := range d.series {
		if sr.starts.n == 0 {
			continue
		}
		sum.Series++
		sum.Readings += int(sr.starts.n)
		if from == 0 || sr.from < from {
			from = sr.from
		}
		if sr.to > to {
			to = sr.to
		}
	}
	if sum.Readings > 0 {
		sum.From, sum.To = time.Unix(from, 0).UTC(), time.Unix(to, 0).UTC()
	}
	return sum
}

// entry is one Atom entry (or a bare resource) being read.
type entry struct {
	index     int
	id, title string
	published string
	updated   string
	self, up  string
	related   []string
	resources []*node
	blocks    []rawBlock
	readings  []rawReading
}

// name identifies the entry in messages: its position and self href (or Atom id).
func (e *entry) name() string {
	switch {
	case e.self != "":
		return fmt.Sprintf("entry %d (%s)", e.index, e.self)
	case e.id != "":
		return fmt.Sprintf("entry %d (id %s)", e.index, e.id)
	}
	return fmt.Sprintf("entry %d", e.index)
}

// entryError is an error in one entry of the document.
type entryError struct {
	entry string
	err   error
}

func (e *entryError) Error() string { return e.entry + ": " + e.err.Error() }
func (e *entryError) Unwrap() error { return e.err }

// isAtom and isESPI match element namespaces. An element with no namespace (a bare fragment,
// or a prefix nothing declares) is matched leniently by its local name; an element in any
// other namespace never matches.
func isAtom(space string) bool { return space == nsAtom || space == "" }
func isESPI(space string) bool { return space == nsESPI || space == nsCustomer || space == "" }

// knownResources are resource names accepted as a bare root element without a namespace.
var knownResources = map[string]bool{"UsagePoint": true, "MeterReading": true, "ReadingType": true,
	"IntervalBlock": true, "UsageSummary": true, "ElectricPowerUsageSummary": true, "LocalTimeParameters": true,
	"ApplicationInformation": true, "Authorization": true, "BatchList": true, "ElectricPowerQualitySummary": true}

// run reads the document.
func (d *decoder) run() error {
	s := d.s
	for {
		k, err := s.Next()
		if err != nil {
			return err
		}
		if k == xmlscan.EOF {
			return nil
		}
		if k != xmlscan.Start {
			continue
		}
		local := string(s.Local())
		space := s.Space()
		switch {
		case local == "feed" && isAtom(space):
			if err := d.feed(); err != nil {
				return err
			}
		case local == "entry" && isAtom(space):
			if err := d.entry(); err != nil {
				return err
			}
		case space == nsESPI || space == nsCustomer || space == "" && knownResources[local]:
			// A bare resource: one pseudo-entry holding it.
			d.entries++
			e := &entry{index: d.entries}
			if err := d.resource(e); err != nil {
				return &entryError{e.name(), err}
			}
			if err := d.finishEntry(e); err != nil {
				return err
			}
		default:
			return fmt.Errorf("not a Green Button document: the root element is <%s> in namespace %q", local, space)
		}
	}
}

// feed reads the children of an Atom feed.
func (d *decoder) feed() error {
	s := d.s
	for depth := s.Depth(); s.NextChild(depth); {
		if string(s.Local()) == "entry" && isAtom(s.Space()) {
			if err := d.entry(); err != nil {
				return err
			}
		}
	}
	return s.Err()
}

// entry reads one Atom entry, then links and stores what it holds.
func (d *decoder) entry() error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	if d.failed.Load() {
		return errors.New("stopped: writing to the database failed")
	}
	s := d.s
	d.entries++
	e := &entry{index: d.entries, readings: d.spare[:0]}
	d.spare = nil
	for depth := s.Depth(); s.NextChild(depth); {
		if !isAtom(s.Space()) {
			continue // skipped by the next NextChild
		}
		switch string(s.Local()) {
		case "link":
			rel, href := string(s.Attr("rel")), string(xmlscan.TrimSpace(s.Attr("href")))
			switch rel {
			case "self":
				if e.self == "" {
					e.self = href
				}
			case "up":
				if e.up == "" {
					e.up = href
				}
			case "related":
				e.related = append(e.related, href)
			}
		case "id", "title", "published", "updated":
			field := string(s.Local())
			t, err := s.TextContent()
			if err != nil {
				return &entryError{e.name(), err}
			}
			switch field {
			case "id":
				e.id = string(t)
			case "title":
				e.title = string(t)
			case "published":
				e.published = string(t)
			case "updated":
				e.updated = string(t)
			}
		case "content":
			if err := d.content(e); err != nil {
				return &entryError{e.name(), err}
			}
		}
	}
	if err := s.Err(); err != nil {
		return &entryError{e.name(), err}
	}
	return d.finishEntry(e)
}

// content reads an entry's content: normally one resource, sometimes several IntervalBlocks.
func (d *decoder) content(e *entry) error {
	s := d.s
	for depth := s.Depth(); s.NextChild(depth); {
		if err := d.resource(e); err != nil {
			return err
		}
	}
	return s.Err()
}

// resource reads one resource element, the current start tag: IntervalBlocks stream into
// e.readings, anything else becomes a small tree.
func (d *decoder) resource(e *entry) error {
	s := d.s
	if !isESPI(s.Space()) {
		if kind := customerKindOf(e.self); kind != "" {
			// The customer feed's unqualified children (GBA's <statement>): the href says what it is.
			n, err := d.tree()
			if err != nil {
				return err
			}
			n.space, n.local = "", kind
			n.kids = []*node{{local: "statement", text: n.text}}
			e.resources = append(e.resources, n)
			return nil
		}
		d.warn.add("ns:"+s.Space()+string(s.Local()), fmt.Sprintf("%s: ignored <%s> in unknown namespace %q", e.name(), s.Local(), s.Space()))
		return s.Skip()
	}
	if string(s.Local()) == "IntervalBlock" {
		return d.intervalBlock(e)
	}
	n, err := d.tree()
	if err != nil {
		return err
	}
	e.resources = append(e.resources, n)
	return nil
}

// node is a small element tree for resources other than IntervalBlocks.
type node struct {
	space, local string
	text         string
	kids         []*node
}

// Limits on one resource tree: no real resource comes near them.
const (
	maxTreeNodes = 100_000
	maxTreeText  = 8 << 20
)

// tree reads the current element into a node tree.
func (d *decoder) tree() (*node, error) {
	nodes, text := 0, 0
	var build func() (*node, error)
	build = func() (*node, error) {
		s := d.s
		n := &node{space: s.Space(), local: string(s.Local())}
		nodes++
		if nodes > maxTreeNodes {
			return nil, fmt.Errorf("resource <%s> has more than %d elements", n.local, maxTreeNodes)
		}
		// The one walk that keeps text and every child, so it reads tokens itself.
		base := s.Depth()
		var buf []byte
		for {
			k, err := s.Next()
			if err != nil {
				return nil, err
			}
			switch k {
			case xmlscan.Text:
				text += len(s.Text())
				if text > maxTreeText {
					return nil, fmt.Errorf("resource <%s> holds more than %d MB of text", n.local, maxTreeText>>20)
				}
				buf = append(buf, s.Text()...)
			case xmlscan.Start:
				kid, err := build()
				if err != nil {
					return nil, err
				}
				n.kids = append(n.kids, kid)
			case xmlscan.End:
				if s.Depth() < base {
					n.text = string(xmlscan.TrimSpace(buf))
					return n, nil
				}
			}
		}
	}
	return build()
}

// child returns the first child element named local in an ESPI namespace (or none).
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.local == local && isESPI(k.space) {
			return k
		}
	}
	return nil
}

// childText is the trimmed text of a child, "" when absent.
func (n *node) childText(local string) string {
	if c := n.child(local); c != nil {
		return c.text
	}
	return ""
}

// finishEntry links and stores what one entry held.
func (d *decoder) finishEntry(e *entry) error {
	for _, n := range e.resources {
		if err := d.handleResource(e, n); err != nil {
			var ee *entryError
			if errors.As(err, &ee) {
				return err // about another entry whose readings this one completed
			}
			return &entryError{e.name(), err}
		}
	}
	if len(e.blocks) > 0 {
		return d.handleBlocks(e)
	}
	d.spare = e.readings[:0]
	return nil
}

// Namespaces matched by the parser.
const (
	nsAtom     = "http://www.w3.org/2005/Atom"
	nsESPI     = "http://naesb.org/espi"
	nsCustomer = "http://naesb.org/espi/customer"
)
