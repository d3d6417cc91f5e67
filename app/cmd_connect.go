package app

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/espi"
)

// connectSource runs a customer's authorisation of a Connect My Data source (`custody sources
// connect NAME`): it prints the authorize URL as the one line of standard output, opens the
// browser unless --no-browser, waits for the custodian to send the browser back to the
// loopback redirect URI, and keeps the tokens in the keyring.
func connectSource(ctx context.Context, env *Env, st *store.Store, o *sourcesFlags, name string) error {
	src, err := st.SourceByName(ctx, name)
	if err != nil {
		return err
	}
	if src.Kind != espi.Kind {
		return usageErr("connect is for greenbutton sources with --authorize-url; %s is a %s source", name, src.Kind)
	}
	drv, ok := env.Drivers[espi.Kind].(*espi.Driver)
	if !ok {
		return noDriver(espi.Kind)
	}
	timeout := o.timeout
	if timeout <= 0 {
		return usageErr("--timeout %s: give a duration such as 5m", timeout)
	}
	gctx, job, done := engine.Guard(ctx, env.job(st, src, nil))
	conn, err := drv.StartConnect(gctx, job)
	if err != nil {
		_, err = done("", err)
		fmt.Fprintf(env.Stderr, "%s: FAILED: %v\n  what to do: %s\n", name, err, adviceFor(err))
		return errSilentFailure
	}
	fmt.Fprintf(env.Stdout, "Open this address in your browser: %s\n", conn.URL())
	if !o.noBrowser {
		if err := openBrowser(conn.URL()); err != nil {
			fmt.Fprintf(env.Stderr, "could not open the browser (%v); open the address above yourself\n", err)
		}
	}
	fmt.Fprintf(env.Stderr, "waiting up to %s for the utility to send the browser back to %s …\n", timeout, conn.RedirectURI())
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := conn.Wait(wctx)
	if err != nil {
		_, err = done("", err)
		fmt.Fprintf(env.Stderr, "%s: FAILED: %v\n  what to do: %s\n", name, err, adviceFor(err))
		return errSilentFailure
	}
	if res.SubscriptionID == "" {
		fmt.Fprintf(env.Stderr, "connected %s to the customer's account; the tokens are in the OS keyring, but the custodian's answer named no subscription (resourceURI): add one with --subscription-id\n", name)
		return nil
	}
	fmt.Fprintf(env.Stderr, "connected %s to the customer's account: subscription %s; the tokens are in the OS keyring\n", name, res.SubscriptionID)
	return nil
}

// openBrowser opens an https URL in the user's browser.
func openBrowser(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("not an https URL")
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", raw)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", raw)
	default:
		cmd = exec.Command("xdg-open", raw)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; the browser lives on
	return nil
}
