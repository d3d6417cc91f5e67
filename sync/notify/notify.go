// Package notify is Custody's optional HTTPS listener for notifications custodians push: Green
// Button BatchLists and Open Banking event notifications. It is off unless a source names a
// listen address; it serves TLS only (1.2 or later), can require client certificates issued
// by a given CA, and mounts whatever handlers the protocol packages give it.
//
// A source configures it with these settings (store.Source.Config keys):
//
//	notify_listen     address to listen on, such as ":8443" or "127.0.0.1:8443" (empty: off)
//	notify_cert       server certificate (PEM file, with its chain)
//	notify_key        server key (PEM file)
//	notify_client_ca  when set, clients must present a certificate issued by this CA (PEM file)
//	notify_path       path to mount the source's handler on (default: the kind's, see RegisterPath)
//
// Sources naming the same address share one listener; they must then name the same
// certificate, key and client CA.
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/logkey"
	"custody/sync/settings"
)

// Source settings of the listener.
const (
	CfgListen   = "notify_listen"
	CfgCert     = "notify_cert"
	CfgKey      = "notify_key"
	CfgClientCA = "notify_client_ca"
	CfgPath     = "notify_path"
)

// Settings are the listener's settings, for the kinds that receive pushed notifications to
// list in their Describe. All are advanced and optional. pathPattern is the kind's default
// path, as given to RegisterPath, for the help.
func Settings(pathPattern string) []settings.Setting {
	return []settings.Setting{
		{Key: CfgListen, Flag: "notify-listen", Label: "Listen on", Type: settings.Text, Advanced: true,
			Hint: "listen on this address for pushed notifications, such as 127.0.0.1:8443; off when empty"},
		{Key: CfgCert, Flag: "notify-cert", Label: "Listener certificate", Type: settings.File, Advanced: true,
			Hint: "server certificate (PEM) of the notification listener"},
		{Key: CfgKey, Flag: "notify-key", Label: "Listener key", Type: settings.File, Advanced: true,
			Hint: "server key (PEM) of the notification listener"},
		{Key: CfgClientCA, Flag: "notify-client-ca", Label: "Sender CA", Type: settings.File, Advanced: true,
			Hint: "require notification senders to present a client certificate issued by this CA (PEM)"},
		{Key: CfgPath, Flag: "notify-path", Label: "Listener path", Type: settings.Text, Advanced: true,
			Hint: "path of this source's notification endpoint (default " + strings.ReplaceAll(pathPattern, NamePlaceholder, "NAME") + ")"},
	}
}

// Check checks the listener settings of src together, for the Check of a kind that lists
// Settings.
func Check(src store.Source) error {
	_, _, _, err := ConfigOf(src)
	return err
}

// NamePlaceholder stands for the source's name (path-escaped) in a path pattern.
const NamePlaceholder = "{name}"

// fallbackPattern is the default path of a kind that registered none.
const fallbackPattern = "/notify/" + NamePlaceholder

// pathPatterns holds each kind's default path pattern, by kind name.
var pathPatterns sync.Map

// RegisterPath makes pattern the default mount path of a kind's sources, NamePlaceholder
// standing for the source's name, such as "/espi/notify/{name}". A driver that receives pushed
// notifications calls it from its package's init, so a new kind needs nothing here.
func RegisterPath(kind, pattern string) { pathPatterns.Store(kind, pattern) }

// DefaultPath is where a source's handler is mounted unless notify_path says otherwise: its
// kind's registered pattern, or /notify/{name} for a kind that registered none.
func DefaultPath(src store.Source) string {
	pattern := fallbackPattern
	if p, ok := pathPatterns.Load(src.Kind); ok {
		pattern = p.(string)
	}
	return strings.ReplaceAll(pattern, NamePlaceholder, url.PathEscape(src.Name))
}

// OpenListenerWarning is logged for a listener without a client CA, and printed when such a
// source is added: without one, anyone who can reach the address may push notifications, which
// Custody then verifies, refuses and records (bounded and rate-limited, but recorded).
const OpenListenerWarning = "the notification listener accepts any client: anyone who can reach it can push forged " +
	"notifications; give it the custodian's client CA (notify_client_ca, --notify-client-ca)"

// Config is one listener's settings.
type Config struct {
	Addr     string
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, makes the listener require client certificates issued by it.
	ClientCAFile string
}

// ConfigOf returns the listener settings and mount path of a source, and whether the source
// wants a listener at all.
func ConfigOf(src store.Source) (cfg Config, path string, on bool, err error) {
	c := src.Config
	cfg = Config{Addr: strings.TrimSpace(c[CfgListen]), CertFile: c[CfgCert], KeyFile: c[CfgKey], ClientCAFile: c[CfgClientCA]}
	if cfg.Addr == "" {
		return cfg, "", false, nil
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return cfg, "", true, fmt.Errorf("source %s: %s needs %s and %s (the listener serves HTTPS only)", src.Name, CfgListen, CfgCert, CfgKey)
	}
	path = c[CfgPath]
	if path == "" {
		path = DefaultPath(src)
	}
	if !strings.HasPrefix(path, "/") {
		return cfg, "", true, fmt.Errorf("source %s: %s %q must start with /", src.Name, CfgPath, path)
	}
	return cfg, path, true, nil
}

// Listener is one HTTPS listener with its handlers.
type Listener struct {
	cfg    Config
	mux    *http.ServeMux
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger
	done   chan struct{}
}

// New prepares a listener: it loads the certificate, key and client CA, but does not listen
// yet.
func New(cfg Config, logger *slog.Logger) (*Listener, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		return nil, errors.New("notify: no listen address")
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("notify: listener certificate %s and key: %w", cfg.CertFile, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.ClientCAFile != "" {
		b, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("notify: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("notify: client CA %s holds no PEM certificate", cfg.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	if cfg.ClientCAFile == "" {
		logger.Warn(OpenListenerWarning, logkey.Op, "notify", logkey.URLPath, cfg.Addr)
	}
	l := &Listener{cfg: cfg, mux: http.NewServeMux(), logger: logger, done: make(chan struct{})}
	l.srv = &http.Server{
		Handler:           l.mux,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return l, nil
}

// Handle mounts h on pattern (a net/http ServeMux pattern such as "POST /espi/notify/pge").
func (l *Listener) Handle(pattern string, h http.Handler) { l.mux.Handle(pattern, h) }

// Start binds the address and serves in the background until Close.
func (l *Listener) Start() error {
	ln, err := net.Listen("tcp", l.cfg.Addr)
	if err != nil {
		return fmt.Errorf("notify: listen on %s: %w", l.cfg.Addr, err)
	}
	l.ln = ln
	go func() {
		defer close(l.done)
		if err := l.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.logger.Error("notification listener stopped", logkey.Op, "notify", logkey.Err, err)
		}
	}()
	l.logger.Info("notification listener started", logkey.Op, "notify", logkey.URLPath, l.URL())
	return nil
}

// ConfigAddr is the address the listener was configured with, such as ":8443".
func (l *Listener) ConfigAddr() string { return l.cfg.Addr }

// Addr is the bound address (after Start).
func (l *Listener) Addr() net.Addr {
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// URL is the listener's https origin (after Start).
func (l *Listener) URL() string {
	if l.ln == nil {
		return ""
	}
	return "https://" + l.ln.Addr().String()
}

// Close stops the listener, letting requests in flight finish for up to 5 seconds.
func (l *Listener) Close() error {
	if l.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.srv.Shutdown(ctx)
	<-l.done
	return err
}

// HandlerFor returns the handler of a source, or nil when the source's kind has none.
type HandlerFor func(src store.Source) http.Handler

// Set is the listeners of every source that wants one.
type Set struct {
	mu        sync.Mutex
	listeners map[string]*Listener // by address
}

// StartAll starts one listener per distinct notify_listen address of the enabled sources and
// mounts each source's handler (POST only) on its path. Sources without notify_listen are
// left alone; with no such source the set is empty and nothing listens.
func StartAll(srcs []store.Source, handlerFor HandlerFor, logger *slog.Logger) (*Set, error) {
	s := &Set{listeners: map[string]*Listener{}}
	cfgs := map[string]Config{}
	paths := map[string]string{}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	for _, src := range srcs {
		if !src.Enabled {
			continue
		}
		cfg, path, on, err := ConfigOf(src)
		if err != nil {
			s.Close()
			return nil, err
		}
		if !on {
			continue
		}
		h := handlerFor(src)
		if h == nil {
			s.Close()
			return nil, fmt.Errorf("source %s: %s sources take no notifications", src.Name, src.Kind)
		}
		if prev, ok := cfgs[cfg.Addr]; ok && prev != cfg {
			s.Close()
			return nil, fmt.Errorf("source %s: sources listening on %s must name the same certificate, key and client CA", src.Name, cfg.Addr)
		}
		if other, ok := paths[cfg.Addr+" "+path]; ok {
			s.Close()
			return nil, fmt.Errorf("sources %s and %s both want %s%s", other, src.Name, cfg.Addr, path)
		}
		paths[cfg.Addr+" "+path] = src.Name
		l := s.listeners[cfg.Addr]
		if l == nil {
			if l, err = New(cfg, logger); err != nil {
				s.Close()
				return nil, err
			}
			s.listeners[cfg.Addr] = l
			cfgs[cfg.Addr] = cfg
		}
		l.Handle("POST "+path, h)
	}
	for _, l := range s.listeners {
		if err := l.Start(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Listeners returns the running listeners.
func (s *Set) Listeners() []*Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Listener
	for _, l := range s.listeners {
		out = append(out, l)
	}
	return out
}

// Close stops every listener.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, l := range s.listeners {
		errs = append(errs, l.Close())
	}
	s.listeners = map[string]*Listener{}
	return errors.Join(errs...)
}
