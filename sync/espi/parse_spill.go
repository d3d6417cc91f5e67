package espi

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
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

// spill moves the readings of pb to the spill file, creating it on first use.
func (d *decoder) spill(pb *pendingBlocks) error {
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
	n := pb.spilled * spillRecord
	if cap(sf.buf) < n {
		sf.buf = make([]byte, n)
	}
	sf.buf = sf.buf[:n]
	if _, err := sf.f.ReadAt(sf.buf, pb.spillAt); err != nil && err != io.EOF {
		return fmt.Errorf("read waiting readings back from their temporary file: %w", err)
	}
	rs := d.unspilled[:0]
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

// closeSpill removes the spill file.
func (d *decoder) closeSpill() {
	if d.spillF != nil {
		name := d.spillF.f.Name()
		d.spillF.f.Close()
		_ = os.Remove(name) // where it could not be unlinked while open
		d.spillF = nil
	}
}
