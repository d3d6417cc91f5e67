package app

import (
	"flag"
	"reflect"
	"strings"
	"testing"

	"custody/app/secrets"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		wantPos   []string
		wantURL   string
		wantBulks []string
	}{
		{[]string{"add", "greenbutton", "home", "--base-url", "https://u", "--bulk-id", "1"}, []string{"add", "greenbutton", "home"}, "https://u", []string{"1"}},
		{[]string{"--base-url=https://u", "add", "--bulk-id", "1", "greenbutton", "--bulk-id", "2", "home"}, []string{"add", "greenbutton", "home"}, "https://u", []string{"1", "2"}},
		{[]string{"add", "--", "--not-a-flag"}, []string{"add", "--not-a-flag"}, "", nil},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		u := fs.String("base-url", "", "")
		var bulks settingFlag
		fs.Var(&bulks, "bulk-id", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !reflect.DeepEqual(pos, tt.wantPos) || *u != tt.wantURL || !reflect.DeepEqual(bulks.vals, tt.wantBulks) {
			t.Errorf("%v: positional %q url %q bulks %q", tt.args, pos, *u, bulks.vals)
		}
	}
}

func TestHelpIsPrintedOnceOnStdout(t *testing.T) {
	c := &cli{t: t, db: t.TempDir() + "/x.db", secrets: secrets.NewMemory()}
	for _, args := range [][]string{{"--help"}, {"export", "--help"}, {"sources", "--help"}} {
		code, stdout, stderr := c.run("", args...)
		if code != 0 || strings.Count(stdout, "Usage:") != 1 || stderr != "" {
			t.Errorf("%v: exit %d, %d usages on stdout, stderr %q", args, code, strings.Count(stdout, "Usage:"), stderr)
		}
	}
	if code, _, stderr := c.run("", "export", "--bogus"); code != 2 || !strings.Contains(stderr, "-bogus") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := c.run("", "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
}
