package app

import (
	"context"
	"flag"
	"fmt"

	"net"
	"slices"
	"strconv"
	"strings"

	"custody/store"
)

func init() {
	register(&command{
		name:    "simulate",
		args:    "[--listen ADDR]",
		summary: "Run the built-in custodian simulators in the foreground and print their URLs and demo credentials.",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defString("listen", "127.0.0.1:0", "loopback address; port 0 picks free ports, port P gives the simulators P, P+1, ...")
		},
		run: runSimulate,
	})
}

// loopbackAddr checks that addr is host:port on a loopback interface: the simulators hand out
// demo credentials and must not be reachable from the network.
func loopbackAddr(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, usageErr("--listen %q: give host:port, such as 127.0.0.1:8443", addr)
	}
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", 0, usageErr("--listen %q: the simulators listen on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n+len(demoSims) > 65536 {
		return "", 0, usageErr("--listen %q: bad port", addr)
	}
	return h, n, nil
}

func runSimulate(ctx context.Context, env *Env, c *invocation) error {
	if _, _, err := loopbackAddr(c.str("listen")); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return usageErr("simulate takes no arguments")
	}
	if len(demoSims) == 0 {
		return fmt.Errorf("this build of Custody has no simulators")
	}
	pki, files, cleanup, err := demoTLS()
	if err != nil {
		return err
	}
	defer cleanup()
	sims, err := startSims(pki, files, c.str("listen"))
	if err != nil {
		return err
	}
	defer closeSims(sims)

	w := env.Stdout
	fmt.Fprintf(w, "Custody's custodian simulators are running on loopback until interrupted (Ctrl-C).\n\n")
	fmt.Fprintf(w, "Certificates (generated for this run, removed on exit):\n")
	fmt.Fprintf(w, "  CA (--ca):             %s\n", files.CA)
	fmt.Fprintf(w, "  client cert (--cert):  %s\n", files.ClientCert)
	fmt.Fprintf(w, "  client key (--key):    %s\n", files.ClientKey)
	for _, s := range sims {
		fmt.Fprintf(w, "\n%s simulator: %s\n", s.kind, s.srv.url)
		fmt.Fprintf(w, "  client id:     %s\n", s.src.Config[CfgClientID])
		fmt.Fprintf(w, "  client secret: %s   (a demo credential of this simulator only)\n", s.secret)
		fmt.Fprintf(w, "  use it with:\n    %s\n", sourcesAddCommand(s.src, s.secret))
		fmt.Fprintf(w, "    custody sync --once %s\n", shellQuote(s.src.Name))
	}
	fmt.Fprintln(w)
	<-ctx.Done()
	fmt.Fprintln(w, "simulators stopped")
	return nil
}

// sourceFlags maps source settings to the flags of `custody sources add`.
var sourceFlags = []struct{ key, flag string }{
	{CfgBaseURL, "base-url"}, {CfgTokenURL, "token-url"}, {CfgClientID, "client-id"},
	{CfgBulkIDs, "bulk-id"}, {CfgSubscriptionIDs, "subscription-id"},
	{CfgJWKSURL, "jwks-url"}, {CfgIssuer, "issuer"}, {CfgAudience, "audience"}, {CfgScope, "scope"},
	{CfgQueues, "queue"}, {CfgFormat, "format"},
	{CfgCert, "cert"}, {CfgKey, "key"}, {CfgCA, "ca"},
	{CfgInterval, "interval"}, {CfgSecretExpires, "secret-expires"},
	{CfgOrgID, "org-id"}, {CfgAlgs, "algs"}, {CfgErrorCodes, "error-codes"}, {CfgMaxEvents, "max-events"},
	{CfgEventTypes, "event-types"}, {CfgCallbackURL, "callback-url"}, {CfgJTIWindow, "jti-window"},
}

// boolSettings are the settings given as flags without a value, with the value they set.
var boolSettings = []struct{ key, value, flag string }{
	{CfgSubscription, "none", "no-subscription"}, {CfgFollow, "true", "follow"},
}

// listSettings are the settings stored as lists, given as repeated flags.
var listSettings = []string{CfgBulkIDs, CfgSubscriptionIDs, CfgQueues, CfgEventTypes}

// sourcesAddCommand is the shell command that adds src with the given secret.
func sourcesAddCommand(src store.Source, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "printf '%%s\\n' %s | custody sources add %s %s", shellQuote(secret), src.Kind, shellQuote(src.Name))
	for _, f := range sourceFlags {
		if slices.Contains(listSettings, f.key) {
			for _, v := range src.List(f.key) {
				fmt.Fprintf(&b, " --%s %s", f.flag, shellQuote(v))
			}
			continue
		}
		if v := src.Config[f.key]; v != "" {
			fmt.Fprintf(&b, " --%s %s", f.flag, shellQuote(v))
		}
	}
	for _, f := range boolSettings {
		if src.Config[f.key] == f.value {
			fmt.Fprintf(&b, " --%s", f.flag)
		}
	}
	b.WriteString(" --secret-stdin")
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
