package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/sync/calllog"
	"custody/sync/engine"
)

// cli runs commands against one database and one in-memory keyring, collecting the log.
type cli struct {
	t       *testing.T
	db      string
	secrets *secrets.Memory
	log     bytes.Buffer
	// calls, when set, is the machine-wide call log the commands share.
	calls *calllog.File
	// extra are drivers of kinds registered in the test only.
	extra []engine.Driver
}

func (c *cli) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{
		Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Getenv:  func(string) string { return "" },
		Secrets: c.secrets,
		Logger:  slog.New(slog.NewTextHandler(&c.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Calls:   c.calls,
	}
	env.Drivers = drivers(env)
	for _, d := range c.extra {
		env.Drivers[d.Kind()] = d
	}
	env.Formats = fileFormats()
	code := Run(context.Background(), env, append(args, "--db", c.db))
	return code, stdout.String(), stderr.String()
}
