package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"custody/store"
)

func init() {
	register(&command{
		name:    "events",
		args:    "[--json] [--source NAME]",
		summary: "List the Open Banking events received, rejected ones too (JSON Lines with --json).",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *eventsFlags) {
			fs.BoolVar(&o.json, "json", false, "one JSON object per line")
			fs.StringVar(&o.source, "source", "", "only this source's events")
		}, runEvents),
	})
}

// eventLine is one line of `custody events --json` (README.md's contract: source, jti, iss,
// types, rid, rty, toe, verified, error; the rest is extra).
type eventLine struct {
	Source   string   `json:"source"`
	JTI      string   `json:"jti"`
	ISS      string   `json:"iss"`
	Types    []string `json:"types"`
	RID      string   `json:"rid"`
	RTY      string   `json:"rty"`
	TOE      string   `json:"toe"`
	Verified bool     `json:"verified"`
	Error    string   `json:"error"`
	AUD      string   `json:"aud"`
	TXN      string   `json:"txn"`
	IAT      string   `json:"iat"`
	Received string   `json:"received"`
	// ResourceStatus is the status of the event's resource when it was read (--follow),
	// empty when none; Resource says what happened in words.
	ResourceStatus string `json:"resource_status"`
	Resource       string `json:"resource,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// eventsFlags are the flags of `custody events`.
type eventsFlags struct {
	json   bool   // --json
	source string // --source
}

func runEvents(ctx context.Context, env *Env, c *invocation, o *eventsFlags) error {
	if len(c.args) > 0 {
		return usageErr("events takes no arguments")
	}
	st, err := env.openStoreForReading(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.Events(ctx, store.EventFilter{Source: o.source})
	if err != nil {
		return err
	}
	// The store lists newest first; print in the order received.
	slices.Reverse(evs)
	if o.json {
		enc := json.NewEncoder(env.Stdout)
		for _, e := range evs {
			types := e.Types
			if types == nil {
				types = []string{}
			}
			line := eventLine{
				Source: e.Source, JTI: e.JTI, ISS: e.ISS, Types: types, RID: e.RID, RTY: e.RTY,
				TOE: rfc3339(e.TOE), Verified: e.Verified, Error: e.Error, AUD: e.AUD, TXN: e.TXN,
				IAT: rfc3339(e.IAT), Received: rfc3339(e.Received),
			}
			if e.Resource != nil {
				line.ResourceStatus, line.Resource = e.Resource.Status, e.Resource.Sentence(time.Local, time.Now())
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	}
	if len(evs) == 0 {
		fmt.Fprintln(env.Stdout, "no events received yet; add an obevents source and run `custody sync --once`")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tSOURCE\tEVENT\tRESOURCE\tTIME OF EVENT\tSTATUS")
	rejected := 0
	for _, e := range evs {
		var kinds []string
		for _, t := range e.Types {
			kinds = append(kinds, strings.TrimPrefix(t, "urn:uk:org:openbanking:events:"))
		}
		status := "verified"
		if !e.Verified {
			rejected++
			status = "REJECTED: " + e.Error
		}
		res := e.RTY
		if e.RID != "" {
			res += " " + e.RID
		}
		if e.Resource != nil {
			res = e.Resource.Sentence(time.Local, time.Now())
		}
		toe := ""
		if !e.TOE.IsZero() {
			toe = e.TOE.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Received.Local().Format("2006-01-02 15:04"), e.Source,
			strings.Join(kinds, ", "), strings.TrimSpace(res), toe, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d events, %d rejected\n", len(evs), rejected)
	return nil
}
