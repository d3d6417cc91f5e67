package secevent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkVerify measures verifying one Open Banking PS256 token with the OB crit headers
// (the synthetic vector 01) against an in-memory key set.
func BenchmarkVerify(b *testing.B) {
	v, _ := vectorVerifier(b)
	tok, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic", "01-valid-ps256-ob-crit-resource-update.jwt"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, string(tok)); err != nil {
			b.Fatal(err)
		}
	}
}
