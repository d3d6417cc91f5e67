package datahub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExplore(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.*")
	for _, f := range files {
		if strings.Contains(f, "schemas") || strings.HasSuffix(f, ".md") {
			continue
		}
		b, _ := os.ReadFile(f)
		format := ""
		switch {
		case LooksLikeXML(b[:min(len(b), 4096)]):
			format = FormatXML
		case LooksLikeJSON(b[:min(len(b), 4096)]):
			format = FormatJSON
		default:
			t.Logf("%s: not detected", f)
			continue
		}
		d, err := Parse(format, strings.NewReader(string(b)))
		if err != nil {
			t.Logf("%s: %v", f, err)
			continue
		}
		t.Logf("%s: %s %s type=%s pt=%s series=%d readings=%d reasons=%v", f, d.Root, d.MRID, d.Type, d.ProcessType, len(d.Series), d.Readings(), d.Reasons())
	}
}
