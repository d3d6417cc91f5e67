package app

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/engine"
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
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *requestFlags) {
			fs.StringVar(&o.sender, "sender", "", "your GLN (13 digits) or EIC (default: the source's --sender-gln)")
			fs.StringVar(&o.role, "role", "", "your market role: DDQ, DDM, MDR, DDK, ... (default: the source's --market-role)")
			fs.StringVar(&o.from, "from", "", "first Danish day (YYYY-MM-DD)")
			fs.StringVar(&o.to, "to", "", "first Danish day after the period (YYYY-MM-DD)")
			fs.StringVar(&o.meteringPoint, "metering-point", "", "validated: the metering point's GSRN")
			fs.StringVar(&o.gridArea, "grid-area", "", "aggregated/wholesale: the 3-digit grid area")
			fs.StringVar(&o.mpType, "mp-type", "", "aggregated: metering point type such as E17 or E18")
			fs.StringVar(&o.settlementMethod, "settlement-method", "", "aggregated: E02 or D01")
			fs.StringVar(&o.energySupplier, "energy-supplier", "", "aggregated/wholesale: energy supplier GLN")
			fs.StringVar(&o.balanceResponsible, "balance-responsible", "", "aggregated: balance responsible GLN")
			fs.StringVar(&o.process, "process", "", "process type (default E23 validated, D04 aggregated, D05 wholesale)")
			fs.StringVar(&o.settlementVersion, "settlement-version", "", "with process D32: D01, D02 or D03")
			fs.StringVar(&o.chargeOwner, "charge-owner", "", "wholesale: charge owner GLN")
			fs.StringVar(&o.chargeCode, "charge-code", "", "wholesale: charge code")
			fs.StringVar(&o.chargeType, "charge-type", "", "wholesale: D01 subscription, D02 fee, D03 tariff")
			fs.StringVar(&o.resolution, "resolution", "", "wholesale: PT1H, P1D or P1M")
			fs.StringVar(&o.format, "format", "", "xml or json (default: the source's format)")
			fs.BoolVar(&o.dryRun, "dry-run", false, "print the document instead of sending it")
		}, runRequest),
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

// requestFlags are the flags of `custody request`.
type requestFlags struct {
	sender             string // --sender
	role               string // --role
	from               string // --from
	to                 string // --to
	meteringPoint      string // --metering-point
	gridArea           string // --grid-area
	mpType             string // --mp-type
	settlementMethod   string // --settlement-method
	energySupplier     string // --energy-supplier
	balanceResponsible string // --balance-responsible
	process            string // --process
	settlementVersion  string // --settlement-version
	chargeOwner        string // --charge-owner
	chargeCode         string // --charge-code
	chargeType         string // --charge-type
	resolution         string // --resolution
	format             string // --format
	dryRun             bool   // --dry-run
}

func runRequest(ctx context.Context, env *Env, c *invocation, o *requestFlags) error {
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
	from, err := danishDate("from", o.from)
	if err != nil {
		return err
	}
	to, err := danishDate("to", o.to)
	if err != nil {
		return err
	}
	req := datahub.Request{
		Kind: kind, Sender: o.sender, SenderRole: o.role, ProcessType: o.process, Start: from, End: to,
		MeteringPoint: o.meteringPoint, MPType: o.mpType, SettlementMethod: o.settlementMethod,
		SettlementVersion: o.settlementVersion, GridArea: o.gridArea, EnergySupplier: o.energySupplier,
		BalanceResponsible: o.balanceResponsible, ChargeOwner: o.chargeOwner, ChargeCode: o.chargeCode,
		ChargeType: o.chargeType, Resolution: o.resolution,
	}
	format := o.format
	if format != "" && format != "xml" && format != "json" {
		return usageErr("--format must be xml or json")
	}
	if o.dryRun {
		if req.Sender == "" {
			req.Sender = src.Config[datahub.SettingSenderGLN]
		}
		if req.SenderRole == "" {
			req.SenderRole = src.Config[datahub.SettingMarketRole]
		}
		if format == "" {
			format = src.Config[datahub.CfgFormat]
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
	// The one request flow (also the GUI's): recorded, sent, resent once, outcome recorded.
	gctx, job, done := engine.Guard(ctx, env.job(st, src, nil))
	sent, err := drv.SendRequest(gctx, job, &req, format,
		map[string]string{"from": o.from, "to": o.to, "metering_point": req.MeteringPoint, "grid_area": req.GridArea,
			"settlement_version": req.SettlementVersion, "charge_code": req.ChargeCode})
	if sent.RouteFallback {
		fmt.Fprintf(env.Stdout, "%s: DataHub does not serve %s here; %s took the request (set --route-validated %s on the source)\n",
			name, datahub.DefaultRouteValidated, datahub.AlternateRouteValidated, datahub.AlternateRouteValidated)
	}
	if err != nil {
		_, err = done("", err)
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
