package app

import (
	"context"
	"flag"
)

// The simulate command lands with its issue; until then it answers "not implemented yet".
func init() {
	register(&command{
		name:    "simulate",
		args:    "[--listen ADDR]",
		summary: "Run the built-in custodian simulators in the foreground and print their URLs and demo credentials.",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defString("listen", "127.0.0.1:0", "address to listen on (loopback only)")
		},
		run: func(context.Context, *Env, *invocation) error { return errNotImplemented },
	})
}
