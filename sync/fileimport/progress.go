package fileimport

import "io"

// progressStep is how many bytes a ProgressReader lets pass between two reports.
const progressStep = 256 << 10

// ProgressReader counts the bytes read through it and reports the count to Progress about
// every 256 KiB, so a parser can drive a progress bar without knowing the file.
type ProgressReader struct {
	R        io.Reader
	Progress func(read int64) // may be nil
	N        int64            // bytes read so far
	last     int64
}

// Read reads from R, counts and reports.
func (p *ProgressReader) Read(b []byte) (int, error) {
	n, err := p.R.Read(b)
	p.N += int64(n)
	if p.Progress != nil && p.N-p.last >= progressStep {
		p.last = p.N
		p.Progress(p.N)
	}
	return n, err
}
