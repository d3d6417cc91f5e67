package app

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// obFlags are the required settings of a valid obevents source.
func obFlags() map[string]string {
	return map[string]string{
		"base-url": "https://bank.example/open-banking/v3.1", "token-url": "https://bank.example/token",
		"client-id": "tpp-1", "jwks-url": "https://keystore.example/bank.jwks", "issuer": "https://bank.example",
		"audience": "tpp-1",
	}
}

// TestSourceFromFlagsOpenBanking checks the Open Banking settings: what each accepted value
// stores under the key package obevents reads, and the message of each refused one.
func TestSourceFromFlagsOpenBanking(t *testing.T) {
	for _, tt := range []struct {
		name  string
		kind  string // default obevents
		flags map[string]string
		lists map[string][]string
		want  map[string]string // settings beside the required ones; nil when refused
		err   string            // part of the message when refused
	}{
		{name: "none of them", want: map[string]string{}},
		{name: "org id", flags: map[string]string{"org-id": "0015800001041RHAAY"}, want: map[string]string{"org_id": "0015800001041RHAAY"}},
		{name: "org id with a space", flags: map[string]string{"org-id": "0015 800"}, err: `--org-id "0015 800"`},
		{name: "algs", flags: map[string]string{"algs": "PS256, ES256"}, want: map[string]string{"algs": "PS256,ES256"}},
		{name: "algs RS256 for an old bank", flags: map[string]string{"algs": "RS256"}, want: map[string]string{"algs": "RS256"}},
		{name: "algs repeated", flags: map[string]string{"algs": "ES256,ES256,"}, want: map[string]string{"algs": "ES256"}},
		{name: "alg none", flags: map[string]string{"algs": "PS256,none"}, err: `unknown or unsafe algorithm "none"`},
		{name: "alg HS256", flags: map[string]string{"algs": "HS256"}, err: `unknown or unsafe algorithm "HS256"`},
		{name: "alg lower case", flags: map[string]string{"algs": "ps256"}, err: `unknown or unsafe algorithm "ps256": say one or more of PS256, ES256, RS256`},
		{name: "algs empty list", flags: map[string]string{"algs": ","}, err: "names no algorithm"},
		{name: "draft codes", flags: map[string]string{"error-codes": "draft"}, want: map[string]string{"error_codes": "draft"}},
		{name: "rfc codes are the default", flags: map[string]string{"error-codes": "rfc"}, want: map[string]string{}},
		{name: "unknown codes", flags: map[string]string{"error-codes": "DRAFT"}, err: `--error-codes must be rfc or draft, not "DRAFT"`},
		{name: "max events", flags: map[string]string{"max-events": "2"}, want: map[string]string{"max_events": "2"}},
		{name: "max events leading zero", flags: map[string]string{"max-events": "007"}, want: map[string]string{"max_events": "7"}},
		{name: "max events zero", flags: map[string]string{"max-events": "0"}, err: `--max-events "0": give a whole number of at least 1`},
		{name: "max events negative", flags: map[string]string{"max-events": "-3"}, err: `--max-events "-3"`},
		{name: "max events not a number", flags: map[string]string{"max-events": "ten"}, err: `--max-events "ten"`},
		{name: "max events fraction", flags: map[string]string{"max-events": "1.5"}, err: `--max-events "1.5"`},
		{name: "event types", lists: map[string][]string{"event-types": {"UK.OBIE.Resource-Update", "urn:uk:org:openbanking:events:consent-access-revoked"}},
			want: map[string]string{"event_types": `["UK.OBIE.Resource-Update","urn:uk:org:openbanking:events:consent-access-revoked"]`}},
		{name: "event types comma separated", lists: map[string][]string{"event-types": {"UK.OBIE.Resource-Update, UK.OBIE.Consent-Access-Revoked"}},
			want: map[string]string{"event_types": `["UK.OBIE.Resource-Update","UK.OBIE.Consent-Access-Revoked"]`}},
		{name: "event type with a space", lists: map[string][]string{"event-types": {"Resource Update"}}, err: `--event-types "Resource Update"`},
		{name: "callback url", flags: map[string]string{"callback-url": "https://me.example/hooks/event-notifications"},
			want: map[string]string{"callback_url": "https://me.example/hooks/event-notifications"}},
		{name: "callback url over http", flags: map[string]string{"callback-url": "http://me.example/event-notifications"}, err: "--callback-url \"http://me.example/event-notifications\": only https"},
		{name: "callback url not a url", flags: map[string]string{"callback-url": "me/event-notifications"}, err: "is not a URL"},
		{name: "callback url without the OB path", flags: map[string]string{"callback-url": "https://me.example/hook"}, err: "end in /event-notifications"},
		{name: "no subscription", flags: map[string]string{"no-subscription": "true"}, want: map[string]string{"subscription": "none"}},
		{name: "no subscription false", flags: map[string]string{"no-subscription": "false", "follow": "false"}, want: map[string]string{}},
		{name: "no subscription not a bool", flags: map[string]string{"no-subscription": "maybe"}, err: `--no-subscription is true or false, not "maybe"`},
		{name: "callback url without a subscription", flags: map[string]string{"no-subscription": "true", "callback-url": "https://me.example/event-notifications"}, err: "give one or the other"},
		{name: "event types without a subscription", flags: map[string]string{"no-subscription": "true"}, lists: map[string][]string{"event-types": {"UK.OBIE.Resource-Update"}}, err: "give one or the other"},
		{name: "follow", flags: map[string]string{"follow": "true"}, want: map[string]string{"follow": "true"}},
		{name: "jti window", flags: map[string]string{"jti-window": "48h"}, want: map[string]string{"jti_window": "48h"}},
		{name: "jti window never reused", flags: map[string]string{"jti-window": "-1s"}, want: map[string]string{"jti_window": "-1s"}},
		{name: "jti window zero", flags: map[string]string{"jti-window": "0"}, err: `--jti-window "0"`},
		{name: "jti window not a duration", flags: map[string]string{"jti-window": "a month"}, err: `--jti-window "a month"`},
		{name: "all together", flags: map[string]string{"org-id": "ORG1", "algs": "ES256", "error-codes": "draft", "max-events": "25",
			"callback-url": "https://me.example/event-notifications", "follow": "true", "jti-window": "720h"},
			lists: map[string][]string{"event-types": {"UK.OBIE.Resource-Update"}},
			want: map[string]string{"org_id": "ORG1", "algs": "ES256", "error_codes": "draft", "max_events": "25",
				"callback_url": "https://me.example/event-notifications", "follow": "true", "jti_window": "720h", "event_types": `["UK.OBIE.Resource-Update"]`}},
		// Other kinds refuse them, as they refuse any setting that is not theirs.
		{name: "greenbutton algs", kind: "greenbutton", flags: map[string]string{"algs": "PS256"}, err: "--algs does not apply to a greenbutton source"},
		{name: "greenbutton rfc codes", kind: "greenbutton", flags: map[string]string{"error-codes": "rfc"}, err: "--error-codes does not apply to a greenbutton source"},
		{name: "greenbutton no subscription", kind: "greenbutton", flags: map[string]string{"no-subscription": "true"}, err: "--no-subscription does not apply to a greenbutton source"},
		{name: "greenbutton unset bools", kind: "greenbutton", flags: map[string]string{"no-subscription": "false", "follow": "false"}, want: map[string]string{}},
		{name: "greenbutton event types", kind: "greenbutton", lists: map[string][]string{"event-types": {"UK.OBIE.Resource-Update"}}, err: "--event-types does not apply"},
		{name: "datahub max events", kind: "datahub", flags: map[string]string{"max-events": "5"}, err: "--max-events does not apply to a datahub source"},
		{name: "datahub callback url", kind: "datahub", flags: map[string]string{"callback-url": "https://me.example/event-notifications"}, err: "--callback-url does not apply"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == "" {
				kind = "obevents"
			}
			flags := obFlags()
			if kind != "obevents" {
				delete(flags, "jwks-url")
				delete(flags, "issuer")
				delete(flags, "audience")
			}
			if kind == "datahub" {
				flags["scope"] = "app/.default"
			}
			required := maps.Clone(flags)
			maps.Copy(flags, tt.flags)
			src, err := sourceFromFlags(kind, "bank", func(f string) string { return flags[f] }, func(f string) []string { return tt.lists[f] })
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", src.Config)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %q, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			base, err := sourceFromFlags(kind, "bank", func(f string) string { return required[f] }, func(string) []string { return nil })
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range src.Config {
				if base.Config[k] != v {
					got[k] = v
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("settings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSourcesAddOpenBankingSettingsReachTheBank adds obevents sources with `custody sources
// add` and syncs them against the simulated bank: the default source reports rejected events
// with the RFC 8935 codes and asks for 10 events a poll; one added with --error-codes draft
// --max-events 2 --event-types UK.OBIE.Resource-Update reports them with the draft codes,
// asks for 2 and subscribes to that event type only; --no-subscription creates none.
func TestSourcesAddOpenBankingSettingsReachTheBank(t *testing.T) {
	pki, err := simtls.New("custody-ob-settings-test")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	rfcCodes := []string{"invalid_request", "invalid_key", "invalid_issuer", "invalid_audience"}
	draftCodes := []string{"jwtAud", "jwtIss", "jws", "jwtCrypto", "jwtHdr", "jwtParse", "setData", "setParse"}
	for _, tt := range []struct {
		name      string
		extra     []string
		codes     []string
		max       int
		subscribe bool
		types     []string
	}{
		{name: "defaults", codes: rfcCodes, max: 10, subscribe: true},
		{name: "draft codes, 2 a poll, one type", extra: []string{"--error-codes", "draft", "--max-events", "2", "--event-types", "UK.OBIE.Resource-Update"},
			codes: draftCodes, max: 2, subscribe: true, types: []string{"UK.OBIE.Resource-Update"}},
		{name: "polling only", extra: []string{"--no-subscription", "--max-events", "3"}, codes: rfcCodes, max: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 12, InvalidEvery: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			src, secret := sim.DemoSource("bank", files)
			c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
			cfg := src.Config
			args := append([]string{"sources", "add", "obevents", "bank",
				"--base-url", cfg["base_url"], "--token-url", cfg["token_url"], "--client-id", cfg["client_id"],
				"--jwks-url", cfg["jwks_url"], "--issuer", cfg["issuer"], "--audience", cfg["audience"],
				"--cert", cfg["cert"], "--key", cfg["key"], "--ca", cfg["ca"], "--secret-stdin"}, tt.extra...)
			if code, out, errs := c.run(secret+"\n", args...); code != 0 {
				t.Fatalf("sources add: %d %s %s", code, out, errs)
			}
			if code, out, errs := c.run("", "sync", "--once", "bank"); code != 0 {
				t.Fatalf("sync: %d\n%s\n%s", code, out, errs)
			}
			if q := sim.Queue(); len(q) != 0 {
				t.Fatalf("queue not drained: %v", q)
			}
			_, invalid := sim.Expected()
			errs := sim.SetErrs()
			if len(errs) != len(invalid) || len(invalid) == 0 {
				t.Fatalf("%d setErrs for %d invalid events", len(errs), len(invalid))
			}
			for jti, e := range errs {
				if !slices.Contains(tt.codes, e.Err) {
					t.Errorf("%s reported as %q, want one of %v", jti, e.Err, tt.codes)
				}
			}
			fetching := 0
			for _, p := range sim.Polls() {
				if p.MaxEvents == nil {
					t.Fatal("a poll without maxEvents")
				}
				if *p.MaxEvents == 0 { // acknowledge only
					continue
				}
				fetching++
				if *p.MaxEvents != tt.max || len(p.Returned) > tt.max {
					t.Errorf("poll asked for %d and got %d, want %d at most", *p.MaxEvents, len(p.Returned), tt.max)
				}
			}
			if want := (12 + tt.max - 1) / tt.max; fetching < want {
				t.Errorf("%d polls fetched events, want at least %d", fetching, want)
			}
			subs := sim.Subscriptions()
			if !tt.subscribe {
				if len(subs) != 0 {
					t.Fatalf("subscribed despite --no-subscription: %v", subs)
				}
				return
			}
			if len(subs) != 1 || !slices.Equal(subs[0].EventTypes, tt.types) {
				t.Fatalf("subscriptions %+v, want one with event types %v", subs, tt.types)
			}
		})
	}
}

// TestSourcesAddRefusesOpenBankingFlagsElsewhere: the command refuses an Open Banking flag on
// another kind with a usage error and stores nothing.
func TestSourcesAddRefusesOpenBankingFlagsElsewhere(t *testing.T) {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	for _, extra := range [][]string{{"--no-subscription"}, {"--algs", "PS256"}, {"--event-types", "UK.OBIE.Resource-Update"}} {
		code, out, errs := c.run("s\n", append([]string{"sources", "add", "greenbutton", "gb",
			"--base-url", "https://u.example/espi", "--token-url", "https://u.example/token", "--client-id", "c", "--secret-stdin"}, extra...)...)
		if code != 2 || !strings.Contains(errs, extra[0]+" does not apply to a greenbutton source") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", extra, code, out, errs)
		}
	}
	code, out, errs := c.run("s\n", "sources", "add", "obevents", "b",
		"--base-url", "https://b.example/ob", "--token-url", "https://b.example/token", "--client-id", "c",
		"--jwks-url", "https://b.example/jwks", "--issuer", "i", "--audience", "c", "--algs", "PS256,HS256", "--secret-stdin")
	if code != 2 || !strings.Contains(errs, `unknown or unsafe algorithm "HS256"`) {
		t.Errorf("HS256: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := c.run("", "sources", "list"); code != 0 || !strings.Contains(out, "no sources configured") {
		t.Errorf("a refused source was stored: %d %s", code, out)
	}
}

// TestSourcesAddCommandOpenBankingRoundTrips: the command `custody simulate` prints for a source
// with every Open Banking setting gives back the same settings, the flags without a value too.
func TestSourcesAddCommandOpenBankingRoundTrips(t *testing.T) {
	src, err := sourceFromFlags("obevents", "bank", func(f string) string {
		return map[string]string{"org-id": "ORG1", "algs": "PS256,ES256", "error-codes": "draft", "max-events": "3",
			"follow": "true", "no-subscription": "true", "jti-window": "48h"}[f] + obFlags()[f]
	}, func(f string) []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	with := map[string]string{"callback-url": "https://me.example/event-notifications"}
	src2, err := sourceFromFlags("obevents", "bank", func(f string) string { return with[f] + obFlags()[f] },
		func(f string) []string {
			if f == "event-types" {
				return []string{"UK.OBIE.Resource-Update"}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		src  string
		conf map[string]string
	}{{"all but the subscription's", src.Config}, {"the subscription's", src2.Config}} {
		cmd := sourcesAddCommand(testKind(t, "obevents"), store.Source{Name: "bank", Kind: "obevents", Config: s.conf}, "x")
		fields := strings.Fields(cmd[strings.Index(cmd, "--base-url"):])
		get, lists := map[string]string{}, map[string][]string{}
		for i := 0; i < len(fields); i++ {
			f := strings.TrimPrefix(fields[i], "--")
			if i+1 == len(fields) || strings.HasPrefix(fields[i+1], "--") {
				get[f] = "true"
				continue
			}
			get[f] = fields[i+1]
			lists[f] = append(lists[f], fields[i+1])
			i++
		}
		back, err := sourceFromFlags("obevents", "bank", func(f string) string { return get[f] }, func(f string) []string { return lists[f] })
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.src, err, cmd)
		}
		if !maps.Equal(back.Config, s.conf) {
			t.Errorf("%s: %v after the round trip, want %v\n%s", s.src, back.Config, s.conf, cmd)
		}
	}
}
