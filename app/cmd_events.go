package app

import (
	"context"
	"flag"
)

// The events command lands with its issue; until then it answers "not implemented yet".
func init() {
	register(&command{
		name:    "events",
		args:    "[--json]",
		summary: "List the Open Banking events received (JSON Lines with --json).",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defBool("json", false, "one JSON object per line")
		},
		run: func(context.Context, *Env, *invocation) error { return errNotImplemented },
	})
}
