package datahub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func addSeeds(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(pattern)
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// walk uses every parsed field the way Put does, so a document that parses cannot make the
// store step panic either.
func walk(t *testing.T, d *Document) {
	for _, s := range d.Series {
		for _, p := range s.Periods {
			st, err := stepper(p.Resolution)
			if err != nil {
				t.Fatalf("parsed a period with resolution %q: %v", p.Resolution, err)
			}
			st.Count(p.Start, p.End)
			for _, pt := range p.Points {
				if pt.Position < 1 {
					t.Fatalf("position %d", pt.Position)
				}
				st.At(p.Start, pt.Position)
				if pt.Quantity != "" {
					if _, err := ParseDecimal(pt.Quantity); err != nil {
						t.Fatalf("parsed quantity %q: %v", pt.Quantity, err)
					}
				}
			}
		}
	}
}

func FuzzParseXML(f *testing.F) {
	addSeeds(f, "testdata/*/*.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseXML(bytes.NewReader(b))
		if err == nil {
			walk(t, d)
		}
		// The fast path for Points reads exactly what encoding/xml reads.
		sameReadingFuzz(t, b)
	})
}

func FuzzParseJSON(f *testing.F) {
	addSeeds(f, "testdata/*/*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseJSON(bytes.NewReader(b))
		if err == nil {
			walk(t, d)
		}
		// Decoding a Point whole reads what reading it token by token reads.
		fast, slow, fe, se := parseJSONBothWays(b)
		if (fe == nil) != (se == nil) {
			t.Fatalf("decoded %v, token by token %v", fe, se)
		}
		if fe == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoded\n%+v\ntoken by token\n%+v", fast, slow)
		}
	})
}

func FuzzParseAPIError(f *testing.F) {
	addSeeds(f, "testdata/errors/*")
	f.Fuzz(func(t *testing.T, b []byte) {
		if e := ParseAPIError(400, b); e == nil || e.Error() == "" {
			t.Fatal("no error value")
		}
	})
}

// FuzzImport parses and stores in one pass, as a sync does: whatever the bytes, no panic, and
// an error is either the document's or the store's.
func FuzzImport(f *testing.F) {
	addSeeds(f, "testdata/*/*.xml")
	addSeeds(f, "testdata/*/*.json")
	st := newStore(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		format := FormatXML
		if LooksLikeJSON(b) {
			format = FormatJSON
		}
		tx, err := st.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		_, res, err := Import(tx, format, bytes.NewReader(b), PutOptions{})
		var se *StoreError
		if errors.As(err, &se) {
			t.Fatalf("store error on fuzzed input: %v", err)
		}
		if err == nil && res.Message.MessageID == "" {
			t.Fatal("a document stored without its message record")
		}
	})
}

func sameReadingFuzz(t *testing.T, b []byte) {
	fast, slow, fe, se := parseBothWays(b)
	if (fe == nil) != (se == nil) || (fe != nil && fe.Error() != se.Error()) {
		t.Fatalf("fast path error %v, decoder error %v", fe, se)
	}
	if fe == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("the fast path read\n%+v\nthe decoder read\n%+v", fast, slow)
	}
}
