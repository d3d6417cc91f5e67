package app

import (
	"context"
	"flag"
	"fmt"

	"net"
	"strconv"
	"strings"

	"custody/store"
	"custody/sync/espi"
	"custody/sync/settings"
)

func init() {
	register(&command{
		name:    "simulate",
		args:    "[--listen ADDR]",
		summary: "Run the built-in custodian simulators in the foreground and print their URLs and demo credentials.",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *simulateFlags) {
			fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "loopback address; port 0 picks free ports, port P gives the simulators P, P+1, ...")
		}, runSimulate),
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

// simulateFlags are the flags of `custody simulate`.
type simulateFlags struct {
	listen string // --listen
}

func runSimulate(ctx context.Context, env *Env, c *invocation, o *simulateFlags) error {
	if _, _, err := loopbackAddr(o.listen); err != nil {
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
	sims, err := startSims(pki, files, o.listen)
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
		// The simulators serve the kinds wiring.go registers, whatever env has.
		k, err := kindNamed(&Env{Drivers: drivers(env)}, s.src.Kind)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s simulator: %s\n", s.kind, s.srv.url)
		fmt.Fprintf(w, "  client id:     %s\n", strings.Join(settings.ValuesOf(k, s.src)["client-id"], ", "))
		fmt.Fprintf(w, "  client secret: %s   (a demo credential of this simulator only)\n", s.secret)
		fmt.Fprintf(w, "  use it with:\n    %s\n", sourcesAddCommand(k, s.src, s.secret))
		fmt.Fprintf(w, "    custody sync --once %s\n", shellQuote(s.src.Name))
	}
	// Green Button as real custodians behave (asynchronous, Connect My Data), after the others.
	if g, err := startGBCustodian(pki, files, "127.0.0.1:0"); err != nil {
		return fmt.Errorf("start the greenbutton simulator of real custodians: %w", err)
	} else {
		defer g.sim.Close()
		k, err := kindNamed(&Env{Drivers: drivers(env)}, espi.Kind)
		if err != nil {
			return err
		}
		g.usage(w, k)
	}
	fmt.Fprintln(w)
	<-ctx.Done()
	fmt.Fprintln(w, "simulators stopped")
	return nil
}

// sourcesAddCommand is the shell command that adds src, of kind k, with the given secret.
func sourcesAddCommand(k settings.Kind, src store.Source, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "printf '%%s\\n' %s | custody sources add %s %s", shellQuote(secret), src.Kind, shellQuote(src.Name))
	given := settings.ValuesOf(k, src)
	for _, s := range k.Settings {
		for _, v := range given[s.Flag] {
			if s.Type == settings.Bool {
				fmt.Fprintf(&b, " --%s", s.Flag)
				continue
			}
			fmt.Fprintf(&b, " --%s %s", s.Flag, shellQuote(v))
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
