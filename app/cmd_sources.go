package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"golang.org/x/term"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/datahub"
	"custody/sync/engine"
	"custody/sync/notify"
)

// Source settings keys, shared by the CLI, the UI and the drivers.
const (
	CfgBaseURL         = "base_url"
	CfgTokenURL        = "token_url"
	CfgClientID        = "client_id"
	CfgBulkIDs         = "bulk_ids"
	CfgSubscriptionIDs = "subscription_ids"
	CfgCert            = "cert"
	CfgKey             = "key"
	CfgCA              = "ca"
	CfgJWKSURL         = "jwks_url"
	CfgIssuer          = "issuer"
	CfgAudience        = "audience"
	CfgScope           = "scope"
	CfgQueues          = "queues"
	CfgFormat          = "format"
	CfgInterval        = "interval"
	CfgSecretExpires   = "secret_expires"
)

// Open Banking settings (the keys package sync/obevents reads), all optional.
const (
	CfgOrgID        = "org_id"       // the bank's OB organisation id, checked against the SET header
	CfgAlgs         = "algs"         // allowed signing algorithms, comma separated
	CfgErrorCodes   = "error_codes"  // "draft" for the draft-ietf-secevent-http-push-03 setErr codes
	CfgMaxEvents    = "max_events"   // maxEvents asked for in each poll
	CfgEventTypes   = "event_types"  // the subscription's EventTypes (a list)
	CfgCallbackURL  = "callback_url" // a public https .../event-notifications URL for push
	CfgSubscription = "subscription" // "none": never create or update an event subscription
	CfgFollow       = "follow"       // "true": fetch each new event's resource
	CfgJTIWindow    = "jti_window"   // how close two uses of a jti must be to count as one event
)

// obAlgs are the signing algorithms --algs accepts; RS256 only for banks that still use it.
var obAlgs = []string{"PS256", "ES256", "RS256"}

// SecretField is the keyring field of a source's client secret.
const SecretField = "client_secret"

func init() {
	register(&command{
		name: "sources",
		args: "list | add KIND NAME [flags] | remove NAME | test NAME | enable NAME | disable NAME",
		summary: `Manage sources. KIND is greenbutton, obevents or datahub. The client secret is read from
standard input with --secret-stdin (one line) or prompted for, and goes to the OS keyring only.

  custody sources add greenbutton NAME --base-url URL --token-url URL --client-id ID
          [--bulk-id ID]... [--subscription-id ID]... [--cert FILE --key FILE] [--ca FILE] [--secret-stdin]
  custody sources add obevents NAME --base-url URL --token-url URL --client-id ID
          --jwks-url URL --issuer ISS --audience AUD [--scope S] [--cert FILE --key FILE] [--ca FILE] [--secret-stdin]
          [--org-id ID] [--algs PS256,ES256] [--error-codes rfc|draft] [--max-events N]
          [--event-types TYPE]... [--callback-url URL | --no-subscription] [--follow] [--jti-window 720h]
  custody sources add datahub NAME --base-url URL --token-url URL --client-id ID --scope S
          [--queue NAME]... [--format xml|json] [--ca FILE] [--secret-stdin]
          [--sender-gln GLN] [--market-role DDQ|DDM|MDR|DDK|...] [--route-validated R]
          [--route-aggregated R] [--route-wholesale R] [--health-path /ping]`,
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defString("base-url", "", "API root (ESPI .../espi/1_1/resource; OB event API root; DataHub host)")
			c.defString("token-url", "", "OAuth2 token endpoint")
			c.defString("client-id", "", "OAuth2 client id")
			c.defList("bulk-id", "ESPI bulk id")
			c.defList("subscription-id", "ESPI subscription id")
			c.defString("cert", "", "client certificate (PEM) for mutual TLS")
			c.defString("key", "", "client key (PEM) for mutual TLS; keep it readable by you only")
			c.defString("ca", "", "extra CA certificate (PEM) to trust for this source")
			c.defString("jwks-url", "", "the bank's JWKS URL (Open Banking)")
			c.defString("issuer", "", "expected token issuer (Open Banking)")
			c.defString("audience", "", "expected token audience (Open Banking)")
			c.defString("scope", "", "OAuth2 scope (DataHub: {app-id}/.default; Open Banking default eventpolling)")
			c.defList("queue", "DataHub queue (default timeseries and aggregations)")
			c.defString("format", "", "DataHub document format: xml or json (default xml)")
			// DataHub identity and routes: datahub.IdentitySettings describes them (issue 15);
			// the settings seam (issue 11) will make these flags from it.
			for _, st := range datahub.IdentitySettings() {
				c.defString(st.Flag, "", "DataHub: "+st.Label+" ("+st.Hint+")")
			}
			c.defString("interval", "", "sync interval such as 15m or 6h (default by kind)")
			c.defString("secret-expires", "", "when the client secret expires (YYYY-MM-DD), to be reminded in time")
			c.defBool("secret-stdin", false, "read the client secret from standard input (one line)")
			c.defString("org-id", "", "the bank's Open Banking organisation id, checked in each event token (Open Banking)")
			c.defString("algs", "", "signing algorithms to accept, comma separated: PS256, ES256, RS256 (Open Banking; default PS256,ES256)")
			c.defString("error-codes", "", "error codes reported for rejected events: rfc (RFC 8935) or draft (draft push-03) (Open Banking; default rfc)")
			c.defString("max-events", "", "most events to ask for in each poll (Open Banking; default 10)")
			c.defList("event-types", "event type of the subscription, such as UK.OBIE.Resource-Update (Open Banking; default all)")
			c.defString("callback-url", "", "public https URL ending in /event-notifications for real-time pushes (Open Banking)")
			c.defBool("no-subscription", false, "never create or update an event subscription, for polling-only banks (Open Banking)")
			c.defBool("follow", false, "fetch the resource each new event points to (Open Banking)")
			c.defString("jti-window", "", "how close two uses of an event id must be to count as one event, such as 720h (Open Banking; default 720h)")
			c.defString("notify-listen", "", "listen on this address for pushed notifications (BatchList, Open Banking events); off when empty")
			c.defString("notify-cert", "", "server certificate (PEM) of the notification listener")
			c.defString("notify-key", "", "server key (PEM) of the notification listener")
			c.defString("notify-client-ca", "", "require notification senders to present a client certificate issued by this CA (PEM)")
			c.defString("notify-path", "", "path of this source's notification endpoint (default /espi/notify/NAME, /NAME/event-notifications)")
		},
		run: runSources,
	})
}

func runSources(ctx context.Context, env *Env, c *invocation) error {
	if len(c.args) == 0 {
		return usageErr("say list, add, remove, test, enable or disable")
	}
	sub, args := c.args[0], c.args[1:]
	open := env.openStore
	if sub == "list" {
		open = env.openStoreForReading
	}
	st, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		return listSources(ctx, env, st)
	case "add":
		if len(args) != 2 {
			return usageErr("add needs KIND and NAME")
		}
		return addSource(ctx, env, st, c, args[0], args[1])
	case "remove", "rm":
		if len(args) != 1 {
			return usageErr("remove needs NAME")
		}
		if err := st.RemoveSource(ctx, args[0]); err != nil {
			return err
		}
		if err := secrets.DeleteAll(env.Secrets, args[0]); err != nil {
			fmt.Fprintf(env.Stderr, "warning: the source is removed but its secrets could not be deleted from the keyring: %v\n", err)
		}
		fmt.Fprintf(env.Stdout, "removed source %s and its secrets; the data it brought in stays\n", args[0])
		return nil
	case "enable", "disable":
		if len(args) != 1 {
			return usageErr("%s needs NAME", sub)
		}
		src, err := st.SourceByName(ctx, args[0])
		if err != nil {
			return err
		}
		src.Enabled = sub == "enable"
		if err := st.UpdateSource(ctx, &src); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%sd source %s\n", sub, src.Name)
		return nil
	case "test":
		if len(args) != 1 {
			return usageErr("test needs NAME")
		}
		return testSource(ctx, env, st, args[0])
	}
	return usageErr("unknown sources subcommand %q", sub)
}

func listSources(ctx context.Context, env *Env, st *store.Store) error {
	srcs, err := st.Sources(ctx)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		fmt.Fprintln(env.Stdout, "no sources configured; add one with `custody sources add`")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tENABLED\tBASE URL\tLAST SYNC")
	for _, s := range srcs {
		last := "never"
		if runs, err := st.Runs(ctx, s.ID, 1); err == nil && len(runs) > 0 {
			last = runs[0].Started.Local().Format("2006-01-02 15:04") + " " + runs[0].Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", s.Name, s.Kind, s.Enabled, s.Config[CfgBaseURL], last)
	}
	return tw.Flush()
}

// sourceSpec says which settings a kind requires and allows.
type sourceSpec struct {
	required []string
	allowed  []string
}

var sourceSpecs = map[string]sourceSpec{
	"greenbutton": {
		required: []string{"base-url", "token-url", "client-id"},
		allowed:  []string{"bulk-id", "subscription-id", "cert", "key", "ca", "scope", "notify-listen", "notify-cert", "notify-key", "notify-client-ca", "notify-path"},
	},
	"obevents": {
		required: []string{"base-url", "token-url", "client-id", "jwks-url", "issuer", "audience"},
		allowed: []string{"scope", "cert", "key", "ca", "notify-listen", "notify-cert", "notify-key", "notify-client-ca", "notify-path",
			"org-id", "algs", "error-codes", "max-events", "event-types", "callback-url", "no-subscription", "follow", "jti-window"},
	},
	"datahub": {
		required: []string{"base-url", "token-url", "client-id", "scope"},
		allowed: []string{"queue", "format", "ca",
			"sender-gln", "market-role", "route-validated", "route-aggregated", "route-wholesale", "health-path"},
	},
}

// SourceFromFlags builds and validates a source of the given kind from flag-named settings
// (the names of `custody sources add`). The UI's forms use it too, so both say the same.
func SourceFromFlags(kind, name string, get func(flag string) string, list func(flag string) []string) (store.Source, error) {
	spec, ok := sourceSpecs[kind]
	if !ok {
		return store.Source{}, fmt.Errorf("unknown source kind %q: say greenbutton, obevents or datahub", kind)
	}
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\n") {
		return store.Source{}, fmt.Errorf("source name %q: give a short name without slashes", name)
	}
	src := store.Source{Name: name, Kind: kind, Enabled: true, Config: map[string]string{}}
	var missing []string
	for _, f := range spec.required {
		if strings.TrimSpace(get(f)) == "" {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) > 0 {
		return src, fmt.Errorf("a %s source needs %s", kind, strings.Join(missing, ", "))
	}
	allowed := map[string]bool{"interval": true, "secret-expires": true}
	for _, f := range append(spec.required, spec.allowed...) {
		allowed[f] = true
	}
	for _, f := range []string{"base-url", "token-url", "client-id", "cert", "key", "ca", "jwks-url", "issuer", "audience", "scope", "format", "interval", "secret-expires",
		"notify-listen", "notify-cert", "notify-key", "notify-client-ca", "notify-path",
		"org-id", "algs", "max-events", "callback-url", "jti-window",
		"sender-gln", "market-role", "route-validated", "route-aggregated", "route-wholesale", "health-path"} {
		v := strings.TrimSpace(get(f))
		if v == "" {
			continue
		}
		if !allowed[f] {
			return src, fmt.Errorf("--%s does not apply to a %s source", f, kind)
		}
		src.Config[strings.ReplaceAll(f, "-", "_")] = v
	}
	// The defaults are not stored, so that a source says only what differs.
	if v := strings.TrimSpace(get("error-codes")); v != "" {
		if !allowed["error-codes"] {
			return src, fmt.Errorf("--error-codes does not apply to a %s source", kind)
		}
		switch v {
		case "draft":
			src.Config[CfgErrorCodes] = v
		case "rfc":
		default:
			return src, fmt.Errorf("--error-codes must be rfc or draft, not %q", v)
		}
	}
	for _, f := range []struct{ flag, key, value string }{{"no-subscription", CfgSubscription, "none"}, {"follow", CfgFollow, "true"}} {
		v := strings.TrimSpace(get(f.flag))
		if v == "" {
			continue
		}
		on, err := strconv.ParseBool(v)
		if err != nil {
			return src, fmt.Errorf("--%s is true or false, not %q", f.flag, v)
		}
		if !on {
			continue
		}
		if !allowed[f.flag] {
			return src, fmt.Errorf("--%s does not apply to a %s source", f.flag, kind)
		}
		src.Config[f.key] = f.value
	}
	for _, f := range []string{"bulk-id", "subscription-id", "queue", "event-types"} {
		vs := list(f)
		if f == "event-types" { // also comma separated, as the UI's lists are
			var split []string
			for _, v := range vs {
				for p := range strings.SplitSeq(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						split = append(split, p)
					}
				}
			}
			vs = split
		}
		if len(vs) > 0 {
			if !allowed[f] {
				return src, fmt.Errorf("--%s does not apply to a %s source", f, kind)
			}
			key := map[string]string{"bulk-id": CfgBulkIDs, "subscription-id": CfgSubscriptionIDs, "queue": CfgQueues, "event-types": CfgEventTypes}[f]
			src.SetList(key, vs)
		}
	}
	for _, f := range []string{CfgBaseURL, CfgTokenURL, CfgJWKSURL, CfgCallbackURL} {
		if v := src.Config[f]; v != "" {
			u, err := url.Parse(v)
			if err != nil || u.Host == "" {
				return src, fmt.Errorf("--%s %q is not a URL", strings.ReplaceAll(f, "_", "-"), v)
			}
			if u.Scheme != "https" {
				return src, fmt.Errorf("--%s %q: only https is allowed, so that credentials never travel in the clear", strings.ReplaceAll(f, "_", "-"), v)
			}
		}
	}
	if (src.Config[CfgCert] == "") != (src.Config[CfgKey] == "") {
		return src, errors.New("--cert and --key go together")
	}
	if err := checkOBSettings(src); err != nil {
		return src, err
	}
	if err := datahub.CheckIdentity(src); err != nil {
		return src, err
	}
	if _, _, _, err := notify.ConfigOf(src); err != nil {
		return src, err
	}
	for _, f := range []string{CfgCert, CfgKey, CfgCA, notify.CfgCert, notify.CfgKey, notify.CfgClientCA} {
		if p := src.Config[f]; p != "" {
			if _, err := os.Stat(p); err != nil {
				return src, fmt.Errorf("--%s: %w", f, err)
			}
		}
	}
	if f := src.Config[CfgFormat]; f != "" && f != "xml" && f != "json" {
		return src, fmt.Errorf("--format must be xml or json, not %q", f)
	}
	if v := src.Config[CfgInterval]; v != "" {
		if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
			return src, fmt.Errorf("--interval %q: give a duration of at least 1m, such as 15m or 6h", v)
		}
	}
	if v := src.Config[CfgSecretExpires]; v != "" {
		if _, err := time.Parse("2006-01-02", v); err != nil {
			return src, fmt.Errorf("--secret-expires %q: give a date such as 2027-06-30", v)
		}
	}
	return src, nil
}

// checkOBSettings checks the Open Banking settings of src (none are set on other kinds).
func checkOBSettings(src store.Source) error {
	c := src.Config
	if v := c[CfgOrgID]; v != "" && (len(v) > 64 || strings.ContainsFunc(v, unicode.IsSpace)) {
		return fmt.Errorf("--org-id %q: give the bank's Open Banking organisation id, such as 0015800001041RHAAY", v)
	}
	if v := c[CfgAlgs]; v != "" {
		var algs []string
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !slices.Contains(obAlgs, a) {
				return fmt.Errorf("--algs: unknown or unsafe algorithm %q: say one or more of %s, comma separated", a, strings.Join(obAlgs, ", "))
			}
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			return fmt.Errorf("--algs %q names no algorithm: say one or more of %s, comma separated", v, strings.Join(obAlgs, ", "))
		}
		c[CfgAlgs] = strings.Join(algs, ",")
	}
	if v := c[CfgMaxEvents]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("--max-events %q: give a whole number of at least 1, such as 10", v)
		}
		c[CfgMaxEvents] = strconv.Itoa(n)
	}
	for _, t := range src.List(CfgEventTypes) {
		if t == "" || len(t) > 200 || strings.ContainsFunc(t, unicode.IsSpace) {
			return fmt.Errorf("--event-types %q: give event types such as UK.OBIE.Resource-Update", t)
		}
	}
	if v := c[CfgCallbackURL]; v != "" {
		if c[CfgSubscription] == "none" {
			return errors.New("--callback-url goes in the event subscription, which --no-subscription turns off: give one or the other")
		}
		if u, _ := url.Parse(v); !strings.HasSuffix(u.Path, "/event-notifications") {
			return fmt.Errorf("--callback-url %q: Open Banking callback URLs end in /event-notifications", v)
		}
	}
	if len(src.List(CfgEventTypes)) > 0 && c[CfgSubscription] == "none" {
		return errors.New("--event-types go in the event subscription, which --no-subscription turns off: give one or the other")
	}
	if v := c[CfgJTIWindow]; v != "" {
		if d, err := time.ParseDuration(v); err != nil || d == 0 {
			return fmt.Errorf("--jti-window %q: give a duration such as 720h (negative: an event id is never reused)", v)
		}
	}
	return nil
}

func addSource(ctx context.Context, env *Env, st *store.Store, c *invocation, kind, name string) error {
	get := func(f string) string {
		if b, ok := c.vals[f].(*bool); ok {
			return strconv.FormatBool(*b)
		}
		return c.str(f)
	}
	src, err := SourceFromFlags(kind, name, get, c.list)
	if err != nil {
		return usageErr("%v", err)
	}
	if _, err := st.SourceByName(ctx, name); err == nil {
		return fmt.Errorf("a source named %q already exists; remove it first or choose another name", name)
	}
	secret, err := readSecret(env, c.boolean("secret-stdin"), fmt.Sprintf("Client secret for %s: ", name))
	if err != nil {
		return err
	}
	// The keyring first: if it is unavailable the source is not half-configured.
	if err := env.Secrets.SetSecret(name, SecretField, secret); err != nil {
		return err
	}
	if err := st.AddSource(ctx, &src); err != nil {
		_ = env.Secrets.DeleteSecret(name, SecretField)
		return err
	}
	fmt.Fprintf(env.Stdout, "added %s source %s; its secret is in the OS keyring\n", kind, name)
	return nil
}

// readSecret reads one secret line: from stdin when asked, else with a prompt that does not
// echo when stdin is a terminal.
func readSecret(env *Env, fromStdin bool, prompt string) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("read secret: empty")
		}
		return string(b), nil
	}
	if !fromStdin {
		fmt.Fprint(env.Stderr, prompt)
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, secrets.MaxSize+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read secret: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("read secret: standard input gave no secret")
	}
	return line, nil
}

func testSource(ctx context.Context, env *Env, st *store.Store, name string) error {
	src, err := st.SourceByName(ctx, name)
	if err != nil {
		return err
	}
	d, ok := env.Drivers[src.Kind]
	if !ok {
		return fmt.Errorf("%s sources: %w", src.Kind, errNotImplemented)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	msg, err := d.Test(ctx, env.job(st, src, nil))
	if err != nil {
		fmt.Fprintf(env.Stdout, "%s: FAILED: %v\n  what to do: %s\n", name, err, adviceFor(err))
		return errSilentFailure
	}
	fmt.Fprintf(env.Stdout, "%s: OK: %s\n", name, msg)
	return nil
}

// job builds the engine job of one source.
func (env *Env) job(st *store.Store, src store.Source, progress func(engine.Progress)) *engine.Job {
	if progress == nil {
		progress = func(engine.Progress) {}
	}
	return &engine.Job{
		Source:   src,
		Store:    st,
		Secrets:  env.Secrets,
		Logger:   env.Logger.With("source", src.Name, "kind", src.Kind),
		Progress: progress,
	}
}
