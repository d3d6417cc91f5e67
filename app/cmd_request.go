package app

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/syncerr"
)

func init() {
	register(&command{
		name: "request",
		args: "validated|aggregated|wholesale SOURCE [--sender GLN --role ROLE] --from DATE --to DATE [flags] | list [SOURCE]",
		summary: `Send a request document to DataHub (RSM-015 validated measure data, RSM-016 aggregated
measure data, RSM-017 wholesale settlement) and record its CorrelationId; the answer arrives in a
queue and is linked to the request by the next sync. DATE is a Danish calendar date (YYYY-MM-DD,
half-open: --to is the first day not included). --sender and --role default to the source's
identity (sources add datahub ... --sender-gln GLN --market-role ROLE); the route to the source's
--route-validated/--route-aggregated/--route-wholesale. A request whose answer is lost is sent
once more with the same ids; an answer or rejection is linked to it by the next sync.

  custody request validated SOURCE --sender GLN --role DDQ --metering-point GSRN --from 2025-03-01 --to 2025-04-01
  custody request aggregated SOURCE --sender GLN --role DDK --grid-area 804 --from 2025-03-01 --to 2025-04-01
  custody request aggregated SOURCE --grid-area 804 --process D32 --settlement-version D02 --from ... --to ...
  custody request wholesale SOURCE --sender GLN --role DDQ --grid-area 804 --charge-owner GLN --from ... --to ...
  custody request list [SOURCE]`,
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defString("sender", "", "your GLN (13 digits) or EIC (default: the source's --sender-gln)")
			c.defString("role", "", "your market role: DDQ, DDM, MDR, DDK, ... (default: the source's --market-role)")
			c.defString("from", "", "first Danish day (YYYY-MM-DD)")
			c.defString("to", "", "first Danish day after the period (YYYY-MM-DD)")
			c.defString("metering-point", "", "validated: the metering point's GSRN")
			c.defString("grid-area", "", "aggregated/wholesale: the 3-digit grid area")
			c.defString("mp-type", "", "aggregated: metering point type such as E17 or E18")
			c.defString("settlement-method", "", "aggregated: E02 or D01")
			c.defString("energy-supplier", "", "aggregated/wholesale: energy supplier GLN")
			c.defString("balance-responsible", "", "aggregated: balance responsible GLN")
			c.defString("process", "", "process type (default E23 validated, D04 aggregated, D05 wholesale)")
			c.defString("settlement-version", "", "with process D32: D01, D02 or D03")
			c.defString("charge-owner", "", "wholesale: charge owner GLN")
			c.defString("charge-code", "", "wholesale: charge code")
			c.defString("charge-type", "", "wholesale: D01 subscription, D02 fee, D03 tariff")
			c.defString("resolution", "", "wholesale: PT1H, P1D or P1M")
			c.defString("format", "", "xml or json (default: the source's format)")
			c.defBool("dry-run", false, "print the document instead of sending it")
		},
		run: runRequest,
	})
}

// danishDate reads a Danish calendar date (or an RFC 3339 instant) for a request boundary.
func danishDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, usageErr("--%s is required", name)
	}
	if t, err := time.ParseInLocation("2006-01-02", v, datahub.Copenhagen); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, usageErr("--%s %q: give a date such as 2025-03-01", name, v)
}

func runRequest(ctx context.Context, env *Env, c *invocation) error {
	if len(c.args) == 0 {
		return usageErr("say validated, aggregated, wholesale or list")
	}
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.args[0] == "list" {
		source := ""
		if len(c.args) > 1 {
			source = c.args[1]
		}
		return listRequests(ctx, env, st, source)
	}
	if len(c.args) != 2 {
		return usageErr("%s needs SOURCE", c.args[0])
	}
	kind, name := c.args[0], c.args[1]
	src, err := st.SourceByName(ctx, name)
	if err != nil {
		return err
	}
	if src.Kind != "datahub" {
		return usageErr("%s is a %s source; requests go to datahub sources", name, src.Kind)
	}
	from, err := danishDate("from", c.str("from"))
	if err != nil {
		return err
	}
	to, err := danishDate("to", c.str("to"))
	if err != nil {
		return err
	}
	req := datahub.Request{
		Kind: kind, Sender: c.str("sender"), SenderRole: c.str("role"), ProcessType: c.str("process"), Start: from, End: to,
		MeteringPoint: c.str("metering-point"), MPType: c.str("mp-type"), SettlementMethod: c.str("settlement-method"),
		SettlementVersion: c.str("settlement-version"), GridArea: c.str("grid-area"), EnergySupplier: c.str("energy-supplier"),
		BalanceResponsible: c.str("balance-responsible"), ChargeOwner: c.str("charge-owner"), ChargeCode: c.str("charge-code"),
		ChargeType: c.str("charge-type"), Resolution: c.str("resolution"),
	}
	format := c.str("format")
	if format != "" && format != "xml" && format != "json" {
		return usageErr("--format must be xml or json")
	}
	if c.boolean("dry-run") {
		if req.Sender == "" {
			req.Sender = src.Config[datahub.SettingSenderGLN]
		}
		if req.SenderRole == "" {
			req.SenderRole = src.Config[datahub.SettingMarketRole]
		}
		if format == "" {
			format = src.Config[CfgFormat]
		}
		if format == "" {
			format = "xml"
		}
		doc, err := req.Build(format)
		if err != nil {
			return usageErr("%v", err)
		}
		_, err = env.Stdout.Write(doc)
		return err
	}
	drv, ok := env.Drivers["datahub"].(*datahub.Driver)
	if !ok {
		drv = datahub.NewDriver()
	}
	sent, err := drv.SendRequest(ctx, env.job(st, src, nil), &req, format,
		map[string]string{"from": c.str("from"), "to": c.str("to"), "metering_point": req.MeteringPoint, "grid_area": req.GridArea,
			"settlement_version": req.SettlementVersion, "charge_code": req.ChargeCode})
	if sent.RouteFallback {
		fmt.Fprintf(env.Stdout, "%s: DataHub does not serve %s here; %s took the request (set --route-validated %s on the source)\n",
			name, datahub.DefaultRouteValidated, datahub.AlternateRouteValidated, datahub.AlternateRouteValidated)
	}
	if err != nil {
		what := "refused"
		if sent.Record.ID == 0 {
			what = "not sent"
		}
		fmt.Fprintf(env.Stderr, "%s: request %s %s: %v\n  what to do: %s\n", name, req.MessageID, what, err, syncerr.Advice(err))
		return errSilentFailure
	}
	if sent.AlreadyArrived {
		fmt.Fprintf(env.Stdout, "%s: request %s had reached DataHub on the first attempt (the retry got 00101); it counts as sent\n", name, req.MessageID)
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s: request %s accepted (HTTP %d), CorrelationId %s\n", name, req.MessageID, sent.Status, orNone(sent.Correlation))
	fmt.Fprintf(env.Stdout, "the answer arrives in the %s queue; run `custody sync --once %s` to fetch it\n", sent.Queue(), name)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none sent)"
	}
	return s
}

func listRequests(ctx context.Context, env *Env, st *store.Store, source string) error {
	rs, err := st.DataHubRequests(ctx, source)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		fmt.Fprintln(env.Stdout, "no requests sent yet")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENT\tSOURCE\tKIND\tMESSAGE ID\tCORRELATION\tSTATUS\tANSWER")
	for _, r := range rs {
		status := r.Status
		if r.Error != "" {
			status += ": " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Created.Local().Format("2006-01-02 15:04"), r.Source, r.Kind,
			r.MessageID, r.Correlation, status, r.Answer)
	}
	return tw.Flush()
}
