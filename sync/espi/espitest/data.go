package espitest

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"
	"time"
)

// The simulator's utility keeps local standard time all year (UTC−8): day blocks start at
// 08:00 UTC.
const (
	tzOffset = -8 * 3600
	day      = 86400
)

// series describes one generated MeterReading with its ReadingType.
type series struct {
	up, mr, rt string
	upKind     int // ServiceCategory kind: 0 electricity, 1 gas
	upTitle    string
	commodity  int
	flow       int
	uom        int
	pow10      int
	interval   int64
	measuring  int
	currency   int
	cost       bool
	// title is the MeterReading entry's title, as custodians write it ("Hourly Electricity
	// Consumption"); the production's tells it from the import of the same flow and unit.
	title string
	// level gives the reading's true amount in the series' unit for an interval start.
	level func(start int64) float64
}

// demoSeries are the simulator's meters: a house with solar (import and export, hourly, with
// cost, and the panels' production on a generation meter of the same UsagePoint, as
// custodians with net metering publish it), a heat pump sub-meter (15-minute) and gas
// (daily, therm).
var demoSeries = []series{
	{up: "1", mr: "1", rt: "rt-elec-fwd-3600", upKind: 0, upTitle: "Demo house electric", commodity: 1, flow: 1, uom: 72, pow10: -3,
		interval: 3600, measuring: 7, currency: 840, cost: true, level: houseImport},
	{up: "1", mr: "2", rt: "rt-elec-rev-3600", upKind: 0, upTitle: "Demo house electric", commodity: 1, flow: 19, uom: 72, pow10: -3,
		interval: 3600, measuring: 7, currency: 840, level: houseExport},
	{up: "1", mr: "5", rt: "rt-elec-prod-3600", upKind: 0, upTitle: "Demo house electric", commodity: 1, flow: 1, uom: 72, pow10: -3,
		interval: 3600, measuring: 7, title: "Hourly Solar Production", level: solar},
	{up: "2", mr: "3", rt: "rt-elec-fwd-900", upKind: 0, upTitle: "Demo heat pump", commodity: 1, flow: 1, uom: 72, pow10: 0,
		interval: 900, measuring: 2, level: heatPump},
	{up: "3", mr: "4", rt: "rt-gas-86400", upKind: 1, upTitle: "Demo house gas", commodity: 7, flow: 1, uom: 169, pow10: -3,
		interval: day, measuring: 4, level: gas},
}

func noise(key string, start int64) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", key, start)
	return float64(h.Sum64()%1000) / 1000 // [0, 1)
}

func localHour(start int64) float64 {
	sec := ((start+tzOffset)%day + day) % day
	return float64(sec) / 3600
}

// summer is 1 at the June solstice and 0 at the December one, so that a year of demo data
// has seasons: long sunny days and little heating in summer, the reverse in winter.
func summer(start int64) float64 {
	doy := float64(time.Unix(start+tzOffset, 0).UTC().YearDay())
	return 0.5 + 0.5*math.Cos(2*math.Pi*(doy-172)/365)
}

// sunshine is the clear-sky output of the panels, 0 to 1, for the hour starting at start: a
// sine over the day, which is 9 hours long at midwinter and 15 at midsummer, around noon,
// and lower in winter when the sun is low.
func sunshine(start int64) float64 {
	half := 4.5 + 3*summer(start)
	h := localHour(start) + 0.5
	if h < 12.5-half || h > 12.5+half {
		return 0
	}
	return math.Sin((h-(12.5-half))/(2*half)*math.Pi) * (0.45 + 0.55*summer(start))
}

// sky is the day's weather, 0 to 1 of the clear-sky output: overcast days (15–50 %) are
// common in winter and rare in summer, and passing clouds take a little off any hour.
func sky(start int64) float64 {
	c := noise("sky", dayStart(start))
	overcast := 0.15 + 0.35*(1-summer(start))
	day := 0.75 + 0.25*(c-overcast)/(1-overcast)
	if c < overcast {
		day = 0.15 + 0.35*c/overcast
	}
	return day * (0.85 + 0.15*noise("cloud", start))
}

// solar is Wh per hour produced by the house's panels (about 4 kWp).
func solar(start int64) float64 {
	return 3000 * sunshine(start) * sky(start)
}

// houseLoad is Wh per hour the house uses: more in the long winter evenings.
func houseLoad(start int64) float64 {
	h := localHour(start)
	base := 350 + 250*noise("imp", start) + 250*(1-summer(start))
	if h >= 17 && h < 22 {
		base += 900
	}
	return base
}

// selfUsed is the part of the hour's production the house uses itself: within an hour use and
// production do not line up exactly, so a tenth of the smaller still crosses the meter.
func selfUsed(start int64) float64 {
	return 0.9 * math.Min(houseLoad(start), solar(start))
}

// houseImport is Wh per hour bought from the grid: the use the panels do not cover.
func houseImport(start int64) float64 {
	return houseLoad(start) - selfUsed(start)
}

// houseExport is Wh per hour fed into the grid: the production the house does not use.
func houseExport(start int64) float64 {
	return solar(start) - selfUsed(start)
}

// heatPump is Wh per quarter hour: hard at work in winter, idling in summer.
func heatPump(start int64) float64 {
	return (40 + 120*noise("hp", start)) * (0.25 + 2.5*(1-summer(start)))
}

// gas is therm per day (cooking and hot water all year, heating in winter).
func gas(start int64) float64 {
	return 0.6 + 0.6*noise("gas", start) + 3.5*(1-summer(start))
}

// bill is the utility's monthly bill for the house: its period and line items, in 1e-5 USD.
type bill struct {
	start, dur, published int64
	imported, exported    float64 // kWh
	energy, credit, fee   int64
}

// monthlyBills are the bills of the whole local months the blocks cover, each published three
// days after its month ended and only once that moment is in the blocks' past.
func monthlyBills(bs []block) []bill {
	first, latest := int64(math.MaxInt64), int64(0)
	for _, b := range bs {
		if b.s.mr == "1" {
			first = min(first, b.start)
			latest = max(latest, b.published)
		}
	}
	if latest == 0 {
		return nil
	}
	zone := time.FixedZone("UTC-8", tzOffset)
	t := time.Unix(first, 0).In(zone)
	m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, zone)
	if m.Unix() < first {
		m = m.AddDate(0, 1, 0)
	}
	var out []bill
	for ; ; m = m.AddDate(0, 1, 0) {
		end := m.AddDate(0, 1, 0).Unix()
		b := bill{start: m.Unix(), dur: end - m.Unix(), published: end + 3*day}
		if b.published > latest {
			return out
		}
		for h := b.start; h < end; h += 3600 {
			b.imported += houseImport(h) / 1000
			b.exported += houseExport(h) / 1000
		}
		b.energy = int64(math.Round(b.imported * 0.32 * 1e5))
		b.credit = -int64(math.Round(b.exported * 0.08 * 1e5))
		b.fee = 12 * 1e5
		out = append(out, b)
	}
}

// reading is one generated interval reading in source units (before the multiplier).
type reading struct {
	start, dur int64
	value      int64
	cost       int64
	quality    int
}

// block is one day of one series as the custodian publishes it at a given moment.
type block struct {
	s         *series
	start     int64
	published int64
	readings  []reading
}

// dayStart is the start (unix seconds) of the local day holding t.
func dayStart(t int64) int64 {
	l := t + tzOffset
	return l - ((l%day)+day)%day - tzOffset
}

// blocks returns the blocks of every series from `days` local days before now up to now, as
// they look at now: readings of the last day are raw (quality 14, "not validated"); once a day
// has been over for 24 hours it is republished validated (17) with corrected values.
func blocks(now time.Time, days int) []block {
	n := now.Unix()
	first := dayStart(n) - int64(days)*day
	var out []block
	for i := range demoSeries {
		s := &demoSeries[i]
		for d := first; d <= n; d += day {
			end := d + day
			b := block{s: s, start: d}
			corrected := n >= end+day
			for t := d; t+s.interval <= end && t+s.interval <= n; t += s.interval {
				amount := s.level(t)
				q := 14
				if corrected {
					amount *= 1.02 + 0.04*noise("corr", t) // the meter data agent's correction
					q = 17
				}
				r := reading{start: t, dur: s.interval, value: int64(math.Round(amount / math.Pow10(s.pow10))), quality: q}
				if s.cost {
					r.cost = int64(math.Round(amount / 1000 * 0.32 * 1e5)) // $0.32 per kWh, in 1e-5 USD
				}
				b.readings = append(b.readings, r)
			}
			if len(b.readings) == 0 {
				continue
			}
			switch {
			case corrected:
				b.published = end + day
			case n >= end:
				b.published = end
			default:
				last := b.readings[len(b.readings)-1]
				b.published = last.start + last.dur
			}
			out = append(out, b)
		}
	}
	return out
}

// window is a published-min/max filter; zero values are open.
type window struct{ min, max time.Time }

func (w window) has(published int64) bool {
	t := time.Unix(published, 0)
	return (w.min.IsZero() || !t.Before(w.min)) && (w.max.IsZero() || !t.After(w.max))
}

// feedWriter writes an Atom feed of ESPI resources.
type feedWriter struct {
	w    *bufio.Writer
	base string // .../espi/1_1/resource
	sub  string
	now  time.Time
	n    int
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (f *feedWriter) open(self, title string) {
	fmt.Fprintf(f.w, `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
<id>urn:uuid:%s</id>
<title>%s</title>
<updated>%s</updated>
<link rel="self" href="%s"/>
`, uuidOf("feed"+self+iso(f.now)), title, iso(f.now), xmlEscape(self))
}

func (f *feedWriter) close() error {
	io.WriteString(f.w, "</feed>\n")
	return f.w.Flush()
}

func (f *feedWriter) entry(self, up string, related []string, title string, published int64, content string) {
	f.n++
	fmt.Fprintf(f.w, "<entry>\n<id>urn:uuid:%s</id>\n<link rel=\"self\" href=\"%s\"/>\n<link rel=\"up\" href=\"%s\"/>\n",
		uuidOf(self), xmlEscape(self), xmlEscape(up))
	for _, r := range related {
		fmt.Fprintf(f.w, "<link rel=\"related\" href=\"%s\"/>\n", xmlEscape(r))
	}
	p := iso(time.Unix(published, 0))
	fmt.Fprintf(f.w, "<title>%s</title>\n<content>%s</content>\n<published>%s</published>\n<updated>%s</updated>\n</entry>\n",
		xmlEscape(title), content, p, p)
}

func (f *feedWriter) upHref(s *series) string {
	return f.base + "/Subscription/" + f.sub + "/UsagePoint/" + s.up
}

func (f *feedWriter) mrHref(s *series) string { return f.upHref(s) + "/MeterReading/" + s.mr }

// usage writes the usage entries: the structure always, blocks inside the window. Only
// entries whose self href starts with prefix are written (prefix "" for all).
func (f *feedWriter) usage(bs []block, w window, prefix string) {
	const epoch = 1735718400 // 2025-01-01: when the demo meters were installed
	want := func(href string) bool { return prefix == "" || strings.HasPrefix(href, prefix) }
	ltp := f.base + "/LocalTimeParameters/1"
	if want(ltp) {
		f.entry(ltp, f.base+"/LocalTimeParameters", nil, "Pacific, standard time all year", epoch,
			`<espi:LocalTimeParameters><espi:dstEndRule>FFFFFFFF</espi:dstEndRule><espi:dstOffset>0</espi:dstOffset><espi:dstStartRule>FFFFFFFF</espi:dstStartRule><espi:tzOffset>-28800</espi:tzOffset></espi:LocalTimeParameters>`)
	}
	seenUP := map[string]bool{}
	for i := range demoSeries {
		s := &demoSeries[i]
		rt := f.base + "/ReadingType/" + s.rt
		if want(rt) {
			cur := ""
			if s.currency != 0 {
				cur = fmt.Sprintf("<espi:currency>%d</espi:currency>", s.currency)
			}
			f.entry(rt, f.base+"/ReadingType", nil, "Type of Meter Reading Data", epoch, fmt.Sprintf(
				`<espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour><espi:commodity>%d</espi:commodity>%s<espi:dataQualifier>12</espi:dataQualifier><espi:defaultQuality>17</espi:defaultQuality><espi:flowDirection>%d</espi:flowDirection><espi:intervalLength>%d</espi:intervalLength><espi:kind>12</espi:kind><espi:phase>769</espi:phase><espi:powerOfTenMultiplier>%d</espi:powerOfTenMultiplier><espi:timeAttribute>0</espi:timeAttribute><espi:uom>%d</espi:uom><espi:measuringPeriod>%d</espi:measuringPeriod></espi:ReadingType>`,
				s.commodity, cur, s.flow, s.interval, s.pow10, s.uom, s.measuring))
		}
		up := f.upHref(s)
		if !seenUP[s.up] && want(up) {
			seenUP[s.up] = true
			f.entry(up, f.base+"/Subscription/"+f.sub+"/UsagePoint", []string{up + "/MeterReading", ltp}, s.upTitle, epoch,
				fmt.Sprintf(`<espi:UsagePoint><espi:roleFlags>01</espi:roleFlags><espi:ServiceCategory><espi:kind>%d</espi:kind></espi:ServiceCategory><espi:status>1</espi:status></espi:UsagePoint>`, s.upKind))
		}
		mr := f.mrHref(s)
		if want(mr) {
			f.entry(mr, up+"/MeterReading", []string{mr + "/IntervalBlock", rt}, s.title, epoch, `<espi:MeterReading/>`)
		}
	}
	var sb strings.Builder
	for _, b := range bs {
		self := fmt.Sprintf("%s/IntervalBlock/%d", f.mrHref(b.s), b.start)
		if !w.has(b.published) || !want(self) {
			continue
		}
		sb.Reset()
		fmt.Fprintf(&sb, "<espi:IntervalBlock><espi:interval><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:interval>", day, b.start)
		for _, r := range b.readings {
			sb.WriteString("<espi:IntervalReading>")
			if b.s.cost {
				fmt.Fprintf(&sb, "<espi:cost>%d</espi:cost>", r.cost)
			}
			fmt.Fprintf(&sb, "<espi:ReadingQuality><espi:quality>%d</espi:quality></espi:ReadingQuality><espi:timePeriod><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:timePeriod><espi:value>%d</espi:value></espi:IntervalReading>",
				r.quality, r.dur, r.start, r.value)
		}
		sb.WriteString("</espi:IntervalBlock>")
		f.entry(self, f.mrHref(b.s)+"/IntervalBlock", nil, "", b.published, sb.String())
	}
	house := f.upHref(&demoSeries[0])
	item := func(amount int64, note string, kwh float64, kind int) string {
		m := ""
		if kwh != 0 {
			m = fmt.Sprintf("<espi:measurement><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier><espi:uom>72</espi:uom><espi:value>%d</espi:value></espi:measurement>", int64(math.Round(kwh*1000)))
		}
		return fmt.Sprintf("<espi:costAdditionalDetailLastPeriod><espi:amount>%d</espi:amount><espi:note>%s</espi:note>%s<espi:itemKind>%d</espi:itemKind></espi:costAdditionalDetailLastPeriod>", amount, note, m, kind)
	}
	for _, b := range monthlyBills(bs) {
		self := fmt.Sprintf("%s/UsageSummary/%d", house, b.start)
		if !w.has(b.published) || !want(self) {
			continue
		}
		total := b.energy + b.credit + b.fee
		content := fmt.Sprintf("<espi:UsageSummary><espi:billingPeriod><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:billingPeriod><espi:billLastPeriod>%d</espi:billLastPeriod>%s%s%s<espi:currency>840</espi:currency><espi:statusTimeStamp>%d</espi:statusTimeStamp></espi:UsageSummary>",
			b.dur, b.start, total, item(b.energy, "Energy charge", b.imported, 3), item(b.credit, "Solar export credit", b.exported, 3), item(b.fee, "Customer charge", 0, 4), b.published)
		f.entry(self, house+"/UsageSummary", nil, "Monthly bill", b.published, content)
	}
}

// customer writes the retail-customer (PII) entries of the demo customer.
func (f *feedWriter) customer(custBase string) {
	const epoch = 1735718400
	rc := custBase + "/RetailCustomer/9001"
	c := rc + "/Customer/1"
	acc := c + "/CustomerAccount/1"
	agr := acc + "/CustomerAgreement/1"
	loc := agr + "/ServiceLocation/1"
	ns := ` xmlns:cust="http://naesb.org/espi/customer"`
	f.entry(c, rc+"/Customer", nil, "Customer", epoch,
		`<cust:Customer`+ns+`><cust:kind>residential</cust:kind><cust:customerName>Demo Customer</cust:customerName></cust:Customer>`)
	f.entry(acc, c+"/CustomerAccount", nil, "Customer account", epoch,
		`<cust:CustomerAccount`+ns+`><cust:billingCycle>10</cust:billingCycle><cust:accountId>DEMO-0001</cust:accountId></cust:CustomerAccount>`)
	f.entry(agr, acc+"/CustomerAgreement", nil, "Customer agreement", epoch,
		`<cust:CustomerAgreement`+ns+`><cust:signDate>1735718400</cust:signDate><cust:agreementId>AGR-0001</cust:agreementId></cust:CustomerAgreement>`)
	var ups strings.Builder
	for _, id := range []string{"1", "2", "3"} {
		fmt.Fprintf(&ups, "<cust:UsagePoint>%s/Subscription/%s/UsagePoint/%s</cust:UsagePoint>", xmlEscape(f.base), f.sub, id)
	}
	f.entry(loc, agr+"/ServiceLocation", nil, "Service location", epoch,
		`<cust:ServiceLocation`+ns+`><cust:mainAddress><cust:streetDetail><cust:number>1</cust:number><cust:name>Demo Way</cust:name></cust:streetDetail><cust:townDetail><cust:name>Sampletown</cust:name><cust:stateOrProvince>CA</cust:stateOrProvince><cust:country>US</cust:country></cust:townDetail><cust:postalCode>94000</cust:postalCode></cust:mainAddress><cust:UsagePoints>`+ups.String()+`</cust:UsagePoints></cust:ServiceLocation>`)
}

func uuidOf(s string) string {
	h := fnv.New128a()
	io.WriteString(h, s)
	b := h.Sum(nil)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func xmlEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			sb.WriteString("&amp;")
		case '<':
			sb.WriteString("&lt;")
		case '>':
			sb.WriteString("&gt;")
		case '"':
			sb.WriteString("&quot;")
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}
