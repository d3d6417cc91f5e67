package espi

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"custody/store"
)

// customerResources are the Retail Customer (personal data) resources; in the customer
// namespace every resource counts as one.
var customerResources = map[string]bool{
	"RetailCustomer": true, "Customer": true, "CustomerAccount": true, "CustomerAgreement": true,
	"ServiceLocation": true, "ServiceSupplier": true, "Meter": true, "EndDevice": true,
	"Statement": true, "ProgramDateIdMappings": true,
}

// handleResource stores or indexes one resource other than an IntervalBlock.
func (d *decoder) handleResource(e *entry, n *node) error {
	if n.space == nsCustomer && n.local != "LocalTimeParameters" || n.space == "" && customerResources[n.local] {
		d.customerInfo(e, n)
		return nil
	}
	switch n.local {
	case "UsagePoint":
		return d.usagePoint(e, n)
	case "MeterReading":
		return d.meterReading(e, n)
	case "ReadingType":
		rt := d.readingType(e, n, e.self)
		return d.addReadingType(rt)
	case "LocalTimeParameters":
		d.localTime(e, n)
	case "UsageSummary", "ElectricPowerUsageSummary":
		d.usageSummary(e, n)
	default:
		d.document(e, n)
	}
	return nil
}

// --- hrefs ---

// keyOf is the stored form of an href: trimmed, without fragment or trailing slash.
func keyOf(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.IndexByte(h, '#'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimRight(h, "/")
}

// matchOf normalises an href for linking: no query or fragment, scheme and host in lower
// case, path unescaped, no trailing slash, and base64 padding dropped from every segment
// (custodians write the same id as …ZCq, …ZCq= and …ZCq==).
func matchOf(h string) string {
	h = keyOf(h)
	if i := strings.IndexByte(h, '?'); i >= 0 {
		h = h[:i]
	}
	if i := strings.Index(h, "://"); i >= 0 {
		rest := h[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		h = strings.ToLower(h[:i+3+j]) + rest[j:]
	}
	if strings.IndexByte(h, '%') >= 0 {
		if u, err := url.PathUnescape(h); err == nil {
			h = u
		}
	}
	if strings.IndexByte(h, '=') >= 0 {
		// Drop each run of '=' that ends a segment, in one copy (this runs for every entry).
		b := make([]byte, 0, len(h))
		for i := 0; i < len(h); i++ {
			if h[i] == '=' {
				j := i
				for j < len(h) && h[j] == '=' {
					j++
				}
				if j == len(h) || h[j] == '/' {
					i = j - 1
					continue
				}
			}
			b = append(b, h[i])
		}
		h = string(b)
	}
	return strings.TrimRight(h, "/")
}

// lastSegment is the last path segment of a normalised href.
func lastSegment(h string) string {
	if i := strings.LastIndexByte(h, '/'); i >= 0 {
		return h[i+1:]
	}
	return h
}

// stripSegment cuts h before its last "/name/…" (with more segments) or trailing "/name".
func stripSegment(h, name string) (string, bool) {
	if i := strings.LastIndex(h, "/"+name+"/"); i >= 0 {
		return h[:i], true
	}
	if strings.HasSuffix(h, "/"+name) {
		return h[:len(h)-len(name)-1], true
	}
	if strings.HasPrefix(h, name+"/") || h == name {
		return "", true
	}
	return h, false
}

// hasSegment says whether the href has name as a path segment followed by an id.
func hasSegment(h, name string) bool {
	return strings.Contains(h, "/"+name+"/") || strings.HasPrefix(h, name+"/")
}

// customerKindOf returns the customer resource an href names by its last such segment.
func customerKindOf(h string) string {
	kind, at := "", -1
	for name := range customerResources {
		if i := strings.LastIndex(h, "/"+name+"/"); i > at {
			kind, at = name, i
		}
	}
	return kind
}

// --- UsagePoint ---

func (d *decoder) meterByHref(href string) *meterState {
	return d.meters[matchOf(href)]
}

// meterFor returns the meter state of a UsagePoint href, creating it when new.
func (d *decoder) meterFor(href string) *meterState {
	match := matchOf(href)
	if m := d.meters[match]; m != nil {
		return m
	}
	key := keyOf(href)
	if key == "" {
		key = d.syntheticKey("meter")
		match = key
	}
	m := &meterState{match: match, m: store.Meter{Key: key, SourceID: d.p.SourceID, Attrs: map[string]string{}}}
	d.meters[match] = m
	d.meterList = append(d.meterList, m)
	m.dirty = true
	return m
}

// syntheticKey names something the document gives no href or id for, stably per payload.
func (d *decoder) syntheticKey(what string) string {
	id := d.p.SHA256
	if len(id) > 16 {
		id = id[:16]
	}
	if id == "" {
		id = "unknown"
	}
	return "urn:custody:payload:" + id + ":" + what
}

func (d *decoder) usagePoint(e *entry, n *node) error {
	href := e.self
	if href == "" {
		href = e.id
	}
	m := d.meterFor(href)
	if e.title != "" {
		m.m.Name = e.title
	}
	if sc := n.child("ServiceCategory"); sc != nil {
		if v, ok := d.intField(e, sc, "kind"); ok {
			m.hasService, m.service = true, v
			m.m.Commodity = commodityOfService(v)
			m.m.Attrs["service_kind"] = strconv.FormatInt(v, 10)
		} else if sc.child("kind") != nil {
			d.warn.add("upkind", fmt.Sprintf("%s: UsagePoint has an empty ServiceCategory kind; its commodity comes from its ReadingTypes", e.name()))
		}
	}
	fields := map[string]string{}
	flattenInto(fields, "", n, map[string]bool{"ServiceCategory": true})
	for k, v := range fields { // a repeated UsagePoint entry updates, never appends
		m.m.Attrs[k] = v
	}
	for _, r := range e.related {
		switch {
		case hasSegment(r, "LocalTimeParameters"):
			m.ltpRefs = append(m.ltpRefs, r)
		default:
			d.related[matchOf(r)] = m
		}
	}
	m.dirty = true
	d.writeMeter(m)
	// Readings waiting for their UsagePoint can go now.
	for _, k := range d.pendingList {
		if err := d.tryFlush(k); err != nil {
			return err
		}
	}
	return nil
}

// writeMeter queues an upsert of the meter if it changed.
func (d *decoder) writeMeter(m *meterState) {
	if !m.dirty {
		return
	}
	m.dirty, m.sent = false, true
	if tz := d.meterZone(m); tz != "" {
		m.m.TimeZone = tz
	}
	mm := m.m
	mm.Attrs = copyMap(m.m.Attrs)
	d.do(func(tx *store.Tx) error {
		if err := tx.UpsertMeter(&mm); err != nil {
			return err
		}
		m.id = mm.ID
		return nil
	})
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- MeterReading ---

func (d *decoder) meterReading(e *entry, n *node) error {
	href := e.self
	if href == "" {
		href = e.id
	}
	mr := d.mrFor(href)
	if e.up != "" {
		mr.up = e.up
	}
	if e.title != "" {
		mr.title = e.title
	}
	mr.related = append(mr.related, e.related...)
	for _, r := range e.related {
		if hasSegment(r, "ReadingType") {
			if mr.rtRef != "" && matchOf(mr.rtRef) != matchOf(r) {
				d.warn.add("mr2rt"+mr.match, fmt.Sprintf("%s: MeterReading links to several ReadingTypes; the last one (%s) is used", e.name(), r))
			}
			mr.rtRef = r
		}
	}
	if nested := n.child("ReadingType"); nested != nil {
		mr.nested = d.readingType(e, nested, "")
	}
	// Blocks whose hrefs did not name a MeterReading belong to the one that lists them.
	d.mrRelated[mr.match+"/IntervalBlock"] = mr
	lists := map[string]bool{}
	for _, r := range e.related {
		if r != "" && !hasSegment(r, "ReadingType") {
			d.mrRelated[matchOf(r)] = mr
			lists[matchOf(r)] = true
		}
	}
	for _, k := range d.pendingList {
		if !strings.HasPrefix(k, "?") || len(d.pending[k]) == 0 {
			continue
		}
		var keep []*pendingBlocks
		for _, pb := range d.pending[k] {
			if lists[matchOf(pb.entry.self)] || lists[matchOf(pb.entry.up)] {
				if _, ok := d.pending[mr.match]; !ok {
					d.pendingList = append(d.pendingList, mr.match)
				}
				d.pending[mr.match] = append(d.pending[mr.match], pb)
			} else {
				keep = append(keep, pb)
			}
		}
		d.pending[k] = keep
	}
	return d.tryFlush(mr.match)
}

func (d *decoder) mrFor(href string) *mrState {
	match := matchOf(href)
	if mr := d.mrs[match]; mr != nil {
		return mr
	}
	key := keyOf(href)
	if key == "" {
		key = d.syntheticKey("series")
		match = key
	}
	mr := &mrState{key: key, match: match, seriesByRT: map[string]*seriesState{}}
	d.mrs[match] = mr
	d.mrList = append(d.mrList, mr)
	return mr
}

// readingTypeOf returns the ReadingType of a MeterReading, nil while unknown.
func (d *decoder) readingTypeOf(mr *mrState) *readingType {
	if mr.nested != nil {
		return mr.nested
	}
	if mr.rtRef == "" {
		return nil
	}
	match := matchOf(mr.rtRef)
	if rt := d.rts[match]; rt != nil {
		return rt
	}
	// Relative and absolute forms of the same href: match by the last segment when that is
	// unambiguous.
	if c := d.rtsByLast[lastSegment(match)]; len(c) == 1 {
		return c[0]
	}
	return nil
}

// meterOf finds the UsagePoint of a MeterReading. Until the whole document has been read
// (d.finishing) it returns nil rather than guess, so that the UsagePoint may still come.
func (d *decoder) meterOf(mr *mrState) *meterState {
	if mr.meter != nil {
		return mr.meter
	}
	if m := d.findMeter(mr); m != nil {
		mr.meter = m
		return m
	}
	if !d.finishing {
		return nil
	}
	if len(d.meterList) == 1 {
		d.warn.add("mrup"+mr.match, fmt.Sprintf("MeterReading %s names no UsagePoint; assigned to the only UsagePoint of the document", mr.key))
		mr.meter = d.meterList[0]
		return mr.meter
	}
	mr.meter = d.meterFor("")
	d.warn.add("mrup"+mr.match, fmt.Sprintf("MeterReading %s names no UsagePoint; its readings are kept under meter %s", mr.key, mr.meter.m.Key))
	return mr.meter
}

// findMeter links a MeterReading to its UsagePoint by hrefs alone.
func (d *decoder) findMeter(mr *mrState) *meterState {
	// 1. A related link to a known UsagePoint.
	for _, r := range mr.related {
		if hasSegment(r, "UsagePoint") && !hasSegment(r, "MeterReading") {
			if m := d.meterByHref(r); m != nil {
				return m
			}
		}
	}
	// 2. A UsagePoint that lists this MeterReading, or its collection (the up href), as related
	// (flat links, and UsagePoints whose own href is written differently).
	if m := d.related[mr.match]; m != nil {
		return m
	}
	if mr.up != "" {
		if m := d.related[matchOf(mr.up)]; m != nil {
			return m
		}
	}
	// 3. Its own href with /MeterReading/{id} cut off, when that names a UsagePoint; the
	// UsagePoint need not be in this document.
	if derived, ok := stripSegment(mr.key, "MeterReading"); ok && hasSegment(derived, "UsagePoint") {
		return d.meterFor(derived)
	}
	return nil
}

// --- ReadingType ---

// readingTypeFields are the integer fields of a ReadingType.
var readingTypeFields = []string{"accumulationBehaviour", "commodity", "consumptionTier", "cpp", "currency",
	"dataQualifier", "defaultQuality", "flowDirection", "intervalLength", "kind", "phase",
	"powerOfTenMultiplier", "timeAttribute", "tou", "uom", "measuringPeriod"}

func (d *decoder) readingType(e *entry, n *node, href string) *readingType {
	rt := &readingType{href: keyOf(href), match: matchOf(href), has: map[string]bool{}, attrs: map[string]string{}}
	if href != "" {
		rt.attrs["reading_type"] = keyOf(href)
	}
	for _, f := range readingTypeFields {
		c := n.child(f)
		if c == nil {
			continue
		}
		v, ok := d.intField(e, n, f)
		if !ok {
			continue
		}
		rt.has[f] = true
		rt.attrs[f] = strconv.FormatInt(v, 10)
		switch f {
		case "uom":
			rt.uom = v
		case "powerOfTenMultiplier":
			rt.pow10 = v
		case "flowDirection":
			rt.flow = v
		case "kind":
			rt.kind = v
		case "commodity":
			rt.commodity = v
		case "currency":
			rt.currency = v
		case "intervalLength":
			rt.intervalLength = v
		}
	}
	if rt.pow10 < -30 || rt.pow10 > 30 {
		d.warn.add("pow10", fmt.Sprintf("%s: powerOfTenMultiplier %d is out of range; treated as 0", e.name(), rt.pow10))
		rt.pow10 = 0
	}
	if rt.has["uom"] {
		unit, known := unitSymbol(rt.uom)
		if !known {
			d.warn.add(fmt.Sprintf("uom%d", rt.uom), fmt.Sprintf("%s: unknown unit code uom %d, exported as %q", e.name(), rt.uom, unit))
		}
		rt.unit = unit
	} else {
		d.warn.add("nouom"+rt.match, fmt.Sprintf("%s: ReadingType has no uom; its readings have no unit", e.name()))
	}
	if rt.has["currency"] {
		if _, ok := currencyLetters(rt.currency); !ok {
			d.warn.add(fmt.Sprintf("cur%d", rt.currency), fmt.Sprintf("%s: unknown currency code %d; costs are stored without a currency", e.name(), rt.currency))
		}
	}
	rt.fingerprint = fmt.Sprintf("%s|%d|%d|%d|%d|%d", rt.unit, rt.pow10, rt.flow, rt.kind, rt.intervalLength, rt.commodity)
	return rt
}

func (d *decoder) addReadingType(rt *readingType) error {
	if rt.match == "" {
		return nil
	}
	if old := d.rts[rt.match]; old != nil {
		if old.fingerprint != rt.fingerprint || fmt.Sprint(old.attrs) != fmt.Sprint(rt.attrs) {
			d.warn.add("rtdup"+rt.match, fmt.Sprintf("ReadingType %s is defined more than once with different content; the later definition is used", rt.href))
		}
		*old = *rt // keep pointers held by series valid; later wins
	} else {
		d.rts[rt.match] = rt
		last := lastSegment(rt.match)
		d.rtsByLast[last] = append(d.rtsByLast[last], rt)
	}
	// Readings waiting for this ReadingType can go now.
	for _, k := range d.pendingList {
		if len(d.pending[k]) == 0 {
			continue
		}
		if err := d.tryFlush(k); err != nil {
			return err
		}
	}
	return nil
}

// intField reads an integer child, tolerating padding; a malformed value is a warning.
func (d *decoder) intField(e *entry, n *node, name string) (int64, bool) {
	c := n.child(name)
	if c == nil || c.text == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(c.text, 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(c.text, 64); ferr == nil && f == float64(int64(f)) {
			return int64(f), true
		}
		d.warn.add("int"+name, fmt.Sprintf("%s: <%s> %q is not an integer; ignored", e.name(), name, c.text))
		return 0, false
	}
	return v, true
}

// --- UsageSummary ---

// summaryMoney are the money fields of a UsageSummary, in hundred-thousandths of its currency.
var summaryMoney = []string{"billLastPeriod", "billToDate", "costAdditionalLastPeriod"}

func (d *decoder) usageSummary(e *entry, n *node) {
	var up string
	for _, src := range []string{e.up, e.self} {
		for _, name := range []string{n.local, "UsageSummary", "ElectricPowerUsageSummary"} {
			if h, ok := stripSegment(src, name); up == "" && ok && hasSegment(h, "UsagePoint") {
				up = h
			}
		}
	}
	var m *meterState
	if e.up != "" && d.related[matchOf(e.up)] != nil {
		m = d.related[matchOf(e.up)] // the UsagePoint lists the summaries' collection as related
	} else if up != "" {
		m = d.meterFor(up)
	} else if len(d.meterList) == 1 {
		m = d.meterList[0]
	} else {
		d.warn.add("sumup", fmt.Sprintf("%s: usage summary names no UsagePoint; not imported", e.name()))
		return
	}
	d.writeMeter(m)
	u := store.UsageSummary{Key: keyOf(e.self), Attrs: map[string]string{}}
	if u.Key == "" {
		u.Key = e.id
	}
	if u.Key == "" {
		u.Key = d.syntheticKey(fmt.Sprintf("summary:%d", e.index))
	}
	if bp := n.child("billingPeriod"); bp != nil {
		if v, ok := d.epochField(e, bp, "start"); ok {
			u.PeriodStart = v
		}
		if v, ok := d.intField(e, bp, "duration"); ok {
			u.PeriodSeconds = v
		}
	}
	for _, f := range summaryMoney {
		if c := n.child(f); c != nil && c.text != "" {
			if v, ok := money(c.text); ok {
				vv := v
				switch f {
				case "billLastPeriod":
					u.BillLastPeriod = &vv
				case "billToDate":
					u.BillToDate = &vv
				case "costAdditionalLastPeriod":
					u.CostAdditionalLastPeriod = &vv
				}
			} else {
				d.warn.add("money"+f, fmt.Sprintf("%s: <%s> %q is not a number; ignored", e.name(), f, c.text))
			}
		}
	}
	if v, ok := d.intField(e, n, "currency"); ok {
		u.Currency, _ = currencyLetters(v)
	}
	if v, ok := d.epochField(e, n, "statusTimeStamp"); ok {
		vv := v
		u.StatusTime = &vv
	}
	skip := map[string]bool{"billingPeriod": true, "billLastPeriod": true, "billToDate": true,
		"costAdditionalLastPeriod": true, "costAdditionalDetailLastPeriod": true, "currency": true, "statusTimeStamp": true}
	for _, k := range n.kids {
		if skip[k.local] {
			continue
		}
		if k.child("value") != nil && k.child("uom") != nil {
			// A SummaryMeasurement: store it scaled, with its unit.
			if q, unit, ok := d.measurement(e, k); ok {
				u.Attrs[k.local] = formatFloat(q)
				u.Attrs[k.local+".unit"] = unit
				if ts := k.childText("timeStamp"); ts != "" {
					u.Attrs[k.local+".timeStamp"] = ts
				}
				continue
			}
		}
		flattenInto(u.Attrs, k.local, k, nil)
	}
	if e.title != "" {
		u.Attrs["title"] = e.title
	}
	for _, li := range n.kids {
		if li.local != "costAdditionalDetailLastPeriod" {
			continue
		}
		it := store.LineItem{Note: li.childText("note"), Attrs: map[string]string{}}
		if c := li.childText("amount"); c != "" {
			if v, ok := money(c); ok {
				it.Amount = &v
			}
		}
		if v, ok := d.intField(e, li, "itemKind"); ok {
			if name, ok := itemKinds[v]; ok {
				it.ItemKind = name
			} else {
				it.ItemKind = strconv.FormatInt(v, 10)
			}
		}
		if ms := li.child("measurement"); ms != nil {
			if q, unit, ok := d.measurement(e, ms); ok {
				it.Measurement, it.Unit = &q, unit
			}
		}
		for _, k := range li.kids {
			switch k.local {
			case "note", "amount", "itemKind", "measurement":
			case "unitCost", "rounding":
				if v, ok := money(k.text); ok {
					it.Attrs[k.local] = formatFloat(v)
				}
			default:
				flattenInto(it.Attrs, k.local, k, nil)
			}
		}
		u.Items = append(u.Items, it)
	}
	d.do(func(tx *store.Tx) error {
		u.MeterID = m.id
		return tx.PutSummary(&u)
	})
}

// measurement decodes a SummaryMeasurement {powerOfTenMultiplier, uom, value}.
func (d *decoder) measurement(e *entry, n *node) (float64, string, bool) {
	v := n.childText("value")
	if v == "" {
		return 0, "", false
	}
	p, _ := d.intField(e, n, "powerOfTenMultiplier")
	q, ok := scaleDecimal(v, p)
	if !ok {
		return 0, "", false
	}
	unit := ""
	if code, ok := d.intField(e, n, "uom"); ok {
		unit, _ = unitSymbol(code)
	}
	return q, unit, true
}

// money converts hundred-thousandths of a currency unit to whole units, exactly.
func money(s string) (float64, bool) { return scaleDecimal(strings.TrimSpace(s), -5) }

// --- time zones ---

func (d *decoder) localTime(e *entry, n *node) {
	tz := d.decodeLocalTime(e, n)
	key := keyOf(e.self)
	if key == "" {
		key = e.id
	}
	if key != "" {
		d.ltps[matchOf(key)] = tz
	}
	data := map[string]string{}
	flattenInto(data, "", n, nil)
	data["zone"] = tz.zone
	d.putDocument(e, n.local, data)
	// Meters already written that link to it get their zone now.
	for _, m := range d.meterList {
		for _, r := range m.ltpRefs {
			if matchOf(r) == matchOf(key) && m.m.TimeZone != tz.zone {
				m.dirty = true
				d.writeMeter(m)
			}
		}
	}
}

// meterZone returns the zone of the meter's LocalTimeParameters, "" while unknown.
func (d *decoder) meterZone(m *meterState) string {
	for _, r := range m.ltpRefs {
		if tz := d.ltps[matchOf(r)]; tz != nil {
			return tz.zone
		}
	}
	return ""
}

// --- customer information and documents ---

func (d *decoder) customerInfo(e *entry, n *node) {
	data := map[string]string{}
	flattenInto(data, "", n, nil)
	addEntryFields(data, e)
	key := keyOf(e.self)
	if key == "" {
		key = e.id
	}
	if key == "" {
		key = d.syntheticKey(fmt.Sprintf("%s:%d", n.local, e.index))
	}
	c := store.CustomerInfo{SourceID: d.p.SourceID, Kind: n.local, Key: key, Data: data}
	d.do(func(tx *store.Tx) error { return tx.PutCustomerInfo(c) })
}

// secretField says whether a field holds a credential, which is never stored (the
// ApplicationInformation resource carries the client secret and registration token).
func secretField(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, "secret") || strings.HasSuffix(l, "_token") || l == "password"
}

func (d *decoder) document(e *entry, n *node) {
	data := map[string]string{}
	flattenInto(data, "", n, nil)
	d.putDocument(e, n.local, data)
}

func (d *decoder) putDocument(e *entry, kind string, data map[string]string) {
	addEntryFields(data, e)
	var removed []string
	for k := range data {
		if secretField(lastSegment(strings.ReplaceAll(k, ".", "/"))) {
			removed = append(removed, k)
			delete(data, k)
		}
	}
	if len(removed) > 0 {
		sort.Strings(removed)
		data["redacted"] = strings.Join(removed, ",")
	}
	key := keyOf(e.self)
	if key == "" {
		key = e.id
	}
	if key == "" {
		key = d.syntheticKey(fmt.Sprintf("%s:%d", kind, e.index))
	}
	doc := store.Document{SourceID: d.p.SourceID, Kind: kind, Key: key, Data: data}
	d.do(func(tx *store.Tx) error { return tx.PutDocument(doc) })
}

func addEntryFields(data map[string]string, e *entry) {
	for k, v := range map[string]string{"atom.id": e.id, "atom.title": e.title, "atom.published": e.published,
		"atom.updated": e.updated, "atom.self": e.self, "atom.up": e.up, "atom.related": strings.Join(e.related, " ")} {
		if v != "" {
			data[k] = v
		}
	}
}

// flattenInto writes the leaves of n into m as dotted paths below prefix; a repeated path
// gets a #2, #3… suffix. Children named in skip are left out.
func flattenInto(m map[string]string, prefix string, n *node, skip map[string]bool) {
	if len(n.kids) == 0 {
		if prefix != "" && n.text != "" {
			k := prefix
			for i := 2; ; i++ {
				if _, dup := m[k]; !dup {
					break
				}
				k = prefix + "#" + strconv.Itoa(i)
			}
			m[k] = n.text
		}
		return
	}
	for _, k := range n.kids {
		if skip[k.local] {
			continue
		}
		p := k.local
		if prefix != "" {
			p = prefix + "." + k.local
		}
		flattenInto(m, p, k, nil)
	}
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
