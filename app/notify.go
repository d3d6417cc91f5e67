package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

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
	return startNotificationsWith(ctx, env, st, nil)
}

// startNotificationsWith is startNotifications with onAuthorization called when a BatchList
// told a Green Button source about an authorization (the engine's SyncNow, so that a
// revocation shows at once).
func startNotificationsWith(ctx context.Context, env *Env, st *store.Store, onAuthorization func(source string)) (*notifications, error) {
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
			h := &espi.Notifications{Driver: drv, Store: st, Secrets: envSecrets{env}, Logger: env.Logger, Source: src.Name, Ctx: ctx,
				AuthorizationChanged: onAuthorization}
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

// listenerManager keeps the notification listeners in step with the sources while the app
// runs: a source added, edited, enabled, disabled or removed starts or stops its listener
// without a restart of the app.
type listenerManager struct {
	env *Env
	st  *store.Store
	ctx context.Context // bounds the fetches notifications trigger

	// onAuthorization is called when a notification told a source about an authorization.
	onAuthorization func(source string)
	// out, when set, gets a line per listener started ("listening for notifications on URL").
	out io.Writer

	mu  sync.Mutex
	cur *notifications
	sig string
	err error
}

func newListenerManager(ctx context.Context, env *Env, st *store.Store) *listenerManager {
	return &listenerManager{env: env, st: st, ctx: ctx}
}

// listenerSignature is what decides the listeners: the enabled sources asking for one and
// their listener settings.
func listenerSignature(srcs []store.Source) string {
	var b strings.Builder
	for _, s := range srcs {
		if !s.Enabled || strings.TrimSpace(s.Config[notify.CfgListen]) == "" {
			continue
		}
		fmt.Fprintf(&b, "%s\x00%s", s.Name, s.Kind)
		for _, k := range []string{notify.CfgListen, notify.CfgCert, notify.CfgKey, notify.CfgClientCA, notify.CfgPath} {
			fmt.Fprintf(&b, "\x00%s", s.Config[k])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Sync starts, restarts or stops the listeners when the sources' listener settings changed
// since the last call. A listener that cannot start is logged and returned; the others and
// polling go on.
func (m *listenerManager) Sync(ctx context.Context) error {
	srcs, err := m.st.Sources(ctx)
	if err != nil {
		return err
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	sig := listenerSignature(srcs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != nil && sig == m.sig {
		return m.err
	}
	if m.cur != nil {
		m.cur.Close()
		m.cur = nil
	}
	m.sig = sig
	out := m.out
	if out == nil {
		out = io.Discard
	}
	n, err := startNotificationsWith(m.ctx, &Env{Stdout: out, Stderr: io.Discard, Secrets: m.env.Secrets,
		Logger: m.env.Logger, Drivers: m.env.Drivers}, m.st, m.onAuthorization)
	if err != nil {
		m.err = err
		m.env.Logger.Error("start the notification listener", "op", "notify.start", "err", err)
		return err
	}
	m.cur, m.err = n, nil
	return nil
}

// Running returns the origin (https://host:port) of the listener serving the source, if
// one is running.
func (m *listenerManager) Running(src store.Source) (string, bool) {
	cfg, _, on, err := notify.ConfigOf(src)
	if err != nil || !on {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || m.cur.set == nil {
		return "", false
	}
	for _, l := range m.cur.set.Listeners() {
		if l.ConfigAddr() == cfg.Addr {
			return l.URL(), true
		}
	}
	return "", false
}

// Err is why the listeners could not start, if they could not.
func (m *listenerManager) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close stops the listeners.
func (m *listenerManager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return nil
	}
	err := m.cur.Close()
	m.cur = nil
	return err
}

// warnOpenListener warns, on stderr, about a source whose notification listener takes pushes
// from any client (no notify_client_ca).
func warnOpenListener(env *Env, src store.Source) {
	if src.Config[notify.CfgListen] != "" && src.Config[notify.CfgClientCA] == "" {
		fmt.Fprintf(env.Stderr, "custody: warning: source %s: %s\n", src.Name, notify.OpenListenerWarning)
	}
}
