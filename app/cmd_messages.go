package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"custody/store"
)

func init() {
	register(&command{
		name:    "messages",
		args:    "[--json] [--source NAME] [--type TYPE]",
		summary: "List the DataHub documents received, unreadable ones too (JSON Lines with --json).",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *messagesFlags) {
			fs.BoolVar(&o.json, "json", false, "one JSON object per line")
			fs.StringVar(&o.source, "source", "", "only this source's documents")
			fs.StringVar(&o.typ, "type", "", "only documents of this type (root element), such as NotifyValidatedMeasureData_MarketDocument")
		}, runMessages),
	})
}

// messageLine is one line of `custody messages --json` (README.md's contract: source, id,
// type, received, correlation, readings, error; the rest is extra).
type messageLine struct {
	Source         string         `json:"source"`
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Received       string         `json:"received"`
	Correlation    string         `json:"correlation"`
	Readings       int64          `json:"readings"`
	Error          string         `json:"error"`
	Created        string         `json:"created"`
	Sender         string         `json:"sender"`
	Receiver       string         `json:"receiver"`
	BusinessReason string         `json:"business_reason"`
	Reasons        []store.Reason `json:"reasons"`
	Request        string         `json:"request,omitempty"`
}

// messagesFlags are the flags of `custody messages`.
type messagesFlags struct {
	json   bool   // --json
	source string // --source
	typ    string // --type
}

func runMessages(ctx context.Context, env *Env, c *invocation, o *messagesFlags) error {
	if len(c.args) > 0 {
		return usageErr("messages takes no arguments")
	}
	st, err := env.openStoreForReading(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.Messages(ctx, store.MessageFilter{Source: o.source, Type: o.typ})
	if err != nil {
		return err
	}
	// The store lists newest first; print in the order received.
	slices.Reverse(ms)
	if o.json {
		enc := json.NewEncoder(env.Stdout)
		for _, m := range ms {
			reasons := m.Reasons
			if reasons == nil {
				reasons = []store.Reason{}
			}
			if err := enc.Encode(messageLine{
				Source: m.Source, ID: m.MessageID, Type: m.Type, Received: rfc3339(m.Received), Correlation: m.Correlation,
				Readings: m.Readings, Error: m.Error, Created: rfc3339(m.Created), Sender: m.Sender, Receiver: m.Receiver,
				BusinessReason: m.BusinessReason, Reasons: reasons, Request: m.Attrs["request"],
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ms) == 0 {
		fmt.Fprintln(env.Stdout, "no DataHub documents received yet; add a datahub source and run `custody sync --once`, or `custody import` CIM files")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tSOURCE\tTYPE\tID\tREASON\tREADINGS\tSTATUS")
	failed := 0
	for _, m := range ms {
		status := "ok"
		var codes []string
		for _, r := range m.Reasons {
			codes = append(codes, r.Code)
		}
		if len(codes) > 0 {
			status = "reasons " + strings.Join(codes, ",")
		}
		if m.Attrs["request"] != "" {
			status += " (answers request " + m.Attrs["request"] + ")"
		}
		if m.Error != "" {
			failed++
			status = "UNREADABLE: " + m.Error
		}
		src := m.Source
		if src == "" {
			src = "(file)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.Received.Local().Format("2006-01-02 15:04"), src,
			strings.TrimSuffix(m.Type, "_MarketDocument"), m.MessageID, m.BusinessReason, m.Readings, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d documents, %d unreadable (archived; see `custody reprocess`)\n", len(ms), failed)
	return nil
}
