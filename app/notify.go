package app

import (
	"context"
	"fmt"
	"net/http"

	"custody/store"
	"custody/sync/espi"
	"custody/sync/notify"
	"custody/sync/obevents"
)

// notifications are the running notification listeners and the BatchList handlers they hold.
type notifications struct {
	set      *notify.Set
	batch    []*espi.Notifications
	setupErr error
}

// wait waits for the fetches the BatchLists received so far started.
func (n *notifications) wait() {
	for _, h := range n.batch {
		h.Wait()
	}
}

// Close stops the listeners and waits for the fetches in flight (which end with the context
// startNotifications was given).
func (n *notifications) Close() error {
	err := n.set.Close()
	n.wait()
	return err
}

// startNotifications starts the HTTPS listeners for pushed notifications that enabled sources
// ask for with notify_listen (see package notify), mounting a Green Button source's BatchList
// handler and an Open Banking source's event-notifications receiver. With no source asking,
// nothing listens. The fetches a BatchList triggers end with ctx. Close the returned set when
// done.
func startNotifications(ctx context.Context, env *Env, st *store.Store) (*notifications, error) {
	srcs, err := st.Sources(ctx)
	if err != nil {
		return nil, err
	}
	n := &notifications{}
	set, err := notify.StartAll(srcs, func(src store.Source) http.Handler {
		switch src.Kind {
		case espi.Kind:
			drv, ok := env.Drivers[espi.Kind].(*espi.Driver)
			if !ok {
				return nil
			}
			h := &espi.Notifications{Driver: drv, Store: st, Secrets: envSecrets{env}, Logger: env.Logger, Source: src.Name, Ctx: ctx}
			n.batch = append(n.batch, h)
			return h
		case "obevents":
			h, err := obevents.NewReceiverFor(st, src, env.Logger.With("source", src.Name, "kind", src.Kind))
			if err != nil {
				n.setupErr = fmt.Errorf("source %s: event receiver: %w", src.Name, err)
				return http.NotFoundHandler()
			}
			return h
		}
		return nil
	}, env.Logger)
	if err != nil {
		return nil, err
	}
	n.set = set
	if n.setupErr != nil {
		n.Close()
		return nil, n.setupErr
	}
	for _, l := range set.Listeners() {
		fmt.Fprintf(env.Stdout, "listening for notifications on %s\n", l.URL())
	}
	return n, nil
}

// warnOpenListener warns, on stderr, about a source whose notification listener takes pushes
// from any client (no notify_client_ca).
func warnOpenListener(env *Env, src store.Source) {
	if src.Config[notify.CfgListen] != "" && src.Config[notify.CfgClientCA] == "" {
		fmt.Fprintf(env.Stderr, "custody: warning: source %s: %s\n", src.Name, notify.OpenListenerWarning)
	}
}
