package espi

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// A document whose ReadingTypes (or MeterReadings) come after its IntervalBlocks makes every
// reading wait until they arrive. Up to maxPendingInMemory waiting readings stay in memory;
// beyond that each waiting entry's readings are written to a temporary file (unlinked at
// once where the system allows, removed at the end otherwise) and read back when their
// ReadingType is known, so memory stays flat whatever the file's size and order.

// maxPendingInMemory is how many waiting readings are kept in memory: 48 bytes each, about
// 12 MB. A variable so that tests can make it small.
var maxPendingInMemory = 1 << 18

// spillRecord is the size of one rawReading in the spill file.
const spillRecord = 48

// spillFile holds waiting readings on disk.
type spillFile struct {
	f    *os.File
	size int64
	buf  []byte
}

// spillHook, when set (by tests), is called for every entry spilled.
var spillHook func()

// spill moves the readings of pb to the spill file, creating it on first use. With
// dropEntry (the blocks know their MeterReading) the entry's self href and id, needed only
// for messages once the blocks are flushed, go with them: a pending entry then keeps about
// 200 bytes in memory for its 96 readings.
func (d *decoder) spill(pb *pendingBlocks, dropEntry bool) error {
	if spillHook != nil {
		spillHook()
	}
	if d.spillF == nil {
		f, err := os.CreateTemp("", "custody-espi-*.spill")
		if err != nil {
			return fmt.Errorf("too many readings wait for their ReadingType to keep in memory, and no temporary file for them: %w", err)
		}
		_ = os.Remove(f.Name()) // the data are personal: leave no file behind, even after a crash
		d.spillF = &spillFile{f: f}
	}
	sf := d.spillF
	sf.buf = sf.buf[:0]
	for i := range pb.readings {
		r := &pb.readings[i]
		sf.buf = binary.LittleEndian.AppendUint64(sf.buf, uint64(r.start))
		sf.buf = binary.LittleEndian.AppendUint64(sf.buf, uint64(r.dur))
		sf.buf = binary.LittleEndian.AppendUint64(sf.buf, uint64(r.value))
		sf.buf = binary.LittleEndian.AppendUint64(sf.buf, uint64(r.cost))
		sf.buf = binary.LittleEndian.AppendUint64(sf.buf, uint64(r.tou))
		sf.buf = binary.LittleEndian.AppendUint32(sf.buf, uint32(r.extra))
		sf.buf = binary.LittleEndian.AppendUint16(sf.buf, r.quality)
		sf.buf = append(sf.buf, r.flags, 0)
	}
	if dropEntry {
		sf.buf = binary.AppendUvarint(sf.buf, uint64(len(pb.entry.self)))
		sf.buf = append(sf.buf, pb.entry.self...)
		sf.buf = binary.AppendUvarint(sf.buf, uint64(len(pb.entry.id)))
		sf.buf = append(sf.buf, pb.entry.id...)
		pb.index, pb.spillMeta = pb.entry.index, len(sf.buf)-len(pb.readings)*spillRecord
		pb.entry = nil
	}
	if _, err := sf.f.WriteAt(sf.buf, sf.size); err != nil {
		return fmt.Errorf("write waiting readings to a temporary file: %w", err)
	}
	pb.spillAt, pb.spilled = sf.size, len(pb.readings)
	sf.size += int64(len(sf.buf))
	d.spare = pb.readings[:0] // the entry's slice is free for the next entry
	pb.readings = nil
	return nil
}

// unspill reads the readings of a spilled pb back, into memory that stays the decoder's.
func (d *decoder) unspill(pb *pendingBlocks) error {
	sf := d.spillF
	n := pb.spilled*spillRecord + pb.spillMeta
	if cap(sf.buf) < n {
		sf.buf = make([]byte, n)
	}
	sf.buf = sf.buf[:n]
	if _, err := sf.f.ReadAt(sf.buf, pb.spillAt); err != nil && err != io.EOF {
		return fmt.Errorf("read waiting readings back from their temporary file: %w", err)
	}
	rs := d.unspilled[:0]
	if pb.spillMeta > 0 {
		meta := sf.buf[pb.spilled*spillRecord:]
		self, meta := readString(meta)
		id, _ := readString(meta)
		pb.entry = &entry{index: pb.index, self: self, id: id}
		sf.buf = sf.buf[:pb.spilled*spillRecord]
	}
	for b := sf.buf; len(b) >= spillRecord; b = b[spillRecord:] {
		rs = append(rs, rawReading{
			start:   int64(binary.LittleEndian.Uint64(b[0:])),
			dur:     int64(binary.LittleEndian.Uint64(b[8:])),
			value:   int64(binary.LittleEndian.Uint64(b[16:])),
			cost:    int64(binary.LittleEndian.Uint64(b[24:])),
			tou:     int64(binary.LittleEndian.Uint64(b[32:])),
			extra:   int32(binary.LittleEndian.Uint32(b[40:])),
			quality: binary.LittleEndian.Uint16(b[44:]),
			flags:   b[46],
		})
	}
	d.unspilled = rs
	pb.readings = rs
	return nil
}

// readString reads a length-prefixed string written by spill.
func readString(b []byte) (string, []byte) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil
	}
	return string(b[k : k+int(n)]), b[k+int(n):]
}

// internHref returns one shared copy of a MeterReading href, so that the thousands of
// blocks waiting for it do not each keep the href they were derived from.
func (d *decoder) internHref(h string) string {
	if v, ok := d.hrefs[h]; ok {
		return v
	}
	if d.hrefs == nil {
		d.hrefs = map[string]string{}
	}
	if len(d.hrefs) < 1<<16 {
		h = strings.Clone(h)
		d.hrefs[h] = h
	}
	return h
}

// closeSpill removes the spill file.
func (d *decoder) closeSpill() {
	if d.spillF != nil {
		name := d.spillF.f.Name()
		d.spillF.f.Close()
		_ = os.Remove(name) // where it could not be unlinked while open
		d.spillF = nil
	}
}
