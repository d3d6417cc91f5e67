package espitest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// BulkOptions shapes a generated bulk file; see [WriteBulk].
type BulkOptions struct {
	// Meters and Days give the size: Meters × Days × 96 fifteen-minute readings.
	Meters, Days int
	// ReadingTypeLast moves the ReadingType entry to the end of the file: the worst case for
	// a streaming parser, since every reading must wait (or be spilled) until it arrives.
	ReadingTypeLast bool
}

// BulkReadings is the number of readings WriteBulk writes for o.
func (o BulkOptions) BulkReadings() int { return o.Meters * o.Days * 96 }

// WriteBulk writes a file shaped like a PG&E Share My Data Batch/Bulk response, the largest
// Green Button documents seen in practice: ns0/ns1 prefixes re-declared on every entry,
// xsi:type on every Atom element, base64 ids, one LocalTimeParameters and one ReadingType
// entry, then per meter a UsagePoint, a MeterReading and one IntervalBlock entry per local
// day with 96 fifteen-minute readings, each with ReadingQuality, timePeriod, value and tou
// (about 275 bytes of XML per reading). The content is a pure function of o, so benchmarks
// and the comparison scripts in scripts/ import the very same bytes. It returns the number
// of readings written.
func WriteBulk(out io.Writer, o BulkOptions) (int, error) {
	w := bufio.NewWriterSize(out, 1<<20)
	const base = "https://api.pge.com/GreenButtonConnect/espi/1_1/resource/"
	const atomNS = `xmlns:ns1="http://www.w3.org/2005/Atom"`
	const xsi = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`
	entryHead := func(self, up string, related ...string) {
		fmt.Fprintf(w, `<ns1:entry %s><ns1:id %s xsi:type="ns1:idType">%s</ns1:id>`, atomNS, xsi, "6eeed16a-9fd1-49e2-bd6b-2623506fb394")
		fmt.Fprintf(w, `<ns1:link href="%s" rel="up" %s xsi:type="ns1:linkType"/><ns1:link href="%s" rel="self" %s xsi:type="ns1:linkType"/>`, up, xsi, self, xsi)
		for _, r := range related {
			fmt.Fprintf(w, `<ns1:link href="%s" rel="related" %s xsi:type="ns1:linkType"/>`, r, xsi)
		}
		fmt.Fprintf(w, `<ns1:published %s xsi:type="ns1:dateTimeType">2019-10-06T04:04:52.756Z</ns1:published><ns1:updated %s xsi:type="ns1:dateTimeType">2019-10-06T04:04:52.756Z</ns1:updated><ns1:content %s xsi:type="ns1:contentType">`, xsi, xsi, xsi)
	}
	const entryTail = "</ns1:content></ns1:entry>\n"
	fmt.Fprintf(w, `<ns1:feed xmlns:ns0="http://naesb.org/espi" %s><ns1:id>619ef109</ns1:id><ns1:link href="%sBatch/Bulk/50916" rel="self"/>`+"\n", atomNS, base)
	entryHead(base+"LocalTimeParameters/1", base+"LocalTimeParameters")
	w.WriteString(`<ns0:LocalTimeParameters xmlns:ns0="http://naesb.org/espi"><ns0:dstEndRule>B40E2000</ns0:dstEndRule><ns0:dstOffset>3600</ns0:dstOffset><ns0:dstStartRule>360E2000</ns0:dstStartRule><ns0:tzOffset>-28800</ns0:tzOffset></ns0:LocalTimeParameters>` + entryTail)
	readingType := func() {
		entryHead(base+"ReadingType/NzI6bnVsbDo5MDA6MQ==", base+"ReadingType")
		w.WriteString(`<ns0:ReadingType xmlns:ns0="http://naesb.org/espi"><ns0:accumulationBehaviour>4</ns0:accumulationBehaviour><ns0:commodity>1</ns0:commodity><ns0:dataQualifier>12</ns0:dataQualifier><ns0:defaultQuality>17</ns0:defaultQuality><ns0:flowDirection>1</ns0:flowDirection><ns0:intervalLength>900</ns0:intervalLength><ns0:kind>12</ns0:kind><ns0:powerOfTenMultiplier>-3</ns0:powerOfTenMultiplier><ns0:timeAttribute>0</ns0:timeAttribute><ns0:uom>72</ns0:uom><ns0:measuringPeriod>2</ns0:measuringPeriod></ns0:ReadingType>` + entryTail)
	}
	if !o.ReadingTypeLast {
		readingType()
	}
	n := 0
	var num []byte
	for m := 0; m < o.Meters; m++ {
		up := fmt.Sprintf("%sSubscription/%d/UsagePoint/%d", base, 4095251+m, 5391320451+m)
		mr := up + "/MeterReading/TnpJNmJuVnNiRG96TmpBd09qRT06MQ=="
		entryHead(up, fmt.Sprintf("%sSubscription/%d/UsagePoint", base, 4095251+m), up+"/MeterReading", base+"LocalTimeParameters/1")
		w.WriteString(`<ns0:UsagePoint xmlns:ns0="http://naesb.org/espi"><ns0:ServiceCategory><ns0:kind>0</ns0:kind></ns0:ServiceCategory></ns0:UsagePoint>` + entryTail)
		entryHead(mr, up+"/MeterReading", mr+"/IntervalBlock", base+"ReadingType/NzI6bnVsbDo5MDA6MQ==")
		w.WriteString(`<ns0:MeterReading xmlns:ns0="http://naesb.org/espi"/>` + entryTail)
		for d := 0; d < o.Days; d++ {
			start := int64(1546329600 + d*86400) // 2019-01-01 08:00 UTC
			entryHead(mr+"/IntervalBlock/"+strconv.FormatInt(start, 10), mr+"/IntervalBlock")
			fmt.Fprintf(w, `<ns0:IntervalBlock xmlns:ns0="http://naesb.org/espi"><ns0:interval><ns0:duration>86400</ns0:duration><ns0:start>%d</ns0:start></ns0:interval>`, start)
			for i := 0; i < 96; i++ {
				// Appending by hand rather than through Fprintf keeps generating a 2 GB file quick.
				num = append(num[:0], `<ns0:IntervalReading><ns0:ReadingQuality><ns0:quality>17</ns0:quality></ns0:ReadingQuality><ns0:timePeriod><ns0:duration>900</ns0:duration><ns0:start>`...)
				num = strconv.AppendInt(num, start+int64(i)*900, 10)
				num = append(num, `</ns0:start></ns0:timePeriod><ns0:value>`...)
				num = strconv.AppendInt(num, int64(100000+(m*7919+d*104729+i*1299709)%900000), 10)
				num = append(num, `</ns0:value><ns0:tou>`...)
				num = strconv.AppendInt(num, int64(1+i/32), 10)
				num = append(num, `</ns0:tou></ns0:IntervalReading>`...)
				w.Write(num)
				n++
			}
			w.WriteString(`</ns0:IntervalBlock>` + entryTail)
		}
	}
	if o.ReadingTypeLast {
		readingType()
	}
	w.WriteString("</ns1:feed>\n")
	return n, w.Flush()
}
