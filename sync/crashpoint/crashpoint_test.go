package crashpoint

import (
	"sync"
	"testing"
)

// reset re-arms the package from the environment, with exit replaced by a recorder.
func reset(t *testing.T, spec string) *[]int {
	t.Helper()
	t.Setenv(EnvVar, spec)
	once = sync.Once{}
	count.Store(0)
	armed.Store(false)
	var codes []int
	exit = func(code int) { codes = append(codes, code) }
	t.Cleanup(func() { exit = nil })
	return &codes
}

func TestHit(t *testing.T) {
	tests := []struct {
		spec  string
		hits  []string
		exits int // how many exits were requested
		at    int // the index of the hit that exited, or -1
	}{
		{"", []string{AfterArchive, AfterCommit}, 0, -1},
		{"after-commit", []string{AfterArchive, AfterCommit, AfterCommit}, 1, 1},
		{"after-commit:2", []string{AfterCommit, AfterArchive, AfterCommit, AfterCommit}, 1, 2},
		{"after-ack:5", []string{AfterAck, AfterAck}, 0, -1},
		{"after-ack:0", []string{AfterAck}, 0, -1},
		{"after-ack:x", []string{AfterAck}, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			codes := reset(t, tt.spec)
			at := -1
			for i, h := range tt.hits {
				before := len(*codes)
				Hit(h)
				if len(*codes) > before && at < 0 {
					at = i
				}
			}
			if len(*codes) != tt.exits || at != tt.at {
				t.Fatalf("exits %v at hit %d, want %d exits at %d", *codes, at, tt.exits, tt.at)
			}
			for _, c := range *codes {
				if c != ExitCode {
					t.Fatalf("exit code %d, want %d", c, ExitCode)
				}
			}
		})
	}
}
