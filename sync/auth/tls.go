// Package auth gives the sync drivers what they need to talk to a custodian: an HTTP client
// with the source's TLS settings (client certificate for mutual TLS, an extra CA to trust),
// OAuth 2.0 client-credentials token sources (the standard JSON answer, and the ESPI variant
// whose answer may be XML or JSON and may name the token client_access_token), and an
// authorised client that adds the bearer token only for the one origin it belongs to.
//
// TLS verification is always on. Secrets are passed in by the caller (who reads them from the
// keyring) and never appear in errors or logs.
package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// TLSConfig is how one source's connections are secured.
type TLSConfig struct {
	// CertFile is the client certificate (PEM) for mutual TLS; empty for none.
	CertFile string
	// KeyFile is the client key (PEM) file. KeyPEM, when set, is the key itself (held in the
	// keyring) and takes the place of KeyFile.
	KeyFile string
	KeyPEM  []byte
	// CAFile and CAPEM are extra CA certificates (PEM) to trust besides the system's.
	CAFile string
	CAPEM  []byte
	// Timeouts bound every exchange; zero fields take DefaultTimeouts.
	Timeouts Timeouts
}

// Timeouts of the clients NewHTTPClient makes, by default (see [DefaultTimeouts] for the rest:
// the stall limit and the overall deadline scaled to the size of the answer).
const (
	DialTimeout         = 30 * time.Second
	TLSHandshakeTimeout = 20 * time.Second
	// AnswerTimeout is how long a server may take to start answering. A custodian preparing
	// a large answer says so with 202 Accepted (ESPI) rather than by keeping the line silent.
	AnswerTimeout   = 60 * time.Second
	IdleConnTimeout = 90 * time.Second
)

// NewHTTPClient returns a client with the given TLS settings: TLS 1.2 or later, the client
// certificate when one is given, the extra CA appended to the system's trusted roots, and
// verification always on. It never follows a redirect (a [RedirectError] says where it
// pointed), and every exchange is bounded by cfg.Timeouts: connect, TLS handshake, the start
// of the answer, a stalled body and an overall deadline.
func NewHTTPClient(cfg TLSConfig) (*http.Client, error) {
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	to := cfg.Timeouts.withDefaults()
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: to.Dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: to.TLSHandshake,
		// A backstop only: the guard below ends a silent server first, with a clearer error.
		ResponseHeaderTimeout: to.Answer + 30*time.Second,
		IdleConnTimeout:       IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   4,
		// HTTP/1.1 only: custodian gateways speak it, and a refused client certificate then
		// surfaces as the TLS alert it is (HTTP/2's connection setup hides it).
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: &guardTransport{base: tr, t: to}, CheckRedirect: refuseRedirect}, nil
}

var (
	defaultOnce sync.Once
	defaultHTTP *http.Client
)

// defaultClient is the client of callers that give none: the system's trust, the default
// timeouts, no redirects.
func defaultClient() *http.Client {
	defaultOnce.Do(func() {
		c, err := NewHTTPClient(TLSConfig{})
		if err != nil {
			panic("auth: the default client: " + err.Error()) // no files are read: cannot happen
		}
		defaultHTTP = c
	})
	return defaultHTTP
}

func (cfg TLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" || len(cfg.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if cfg.CAFile != "" {
			b, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read CA file: %w", err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
			}
		}
		if len(cfg.CAPEM) > 0 && !pool.AppendCertsFromPEM(cfg.CAPEM) {
			return nil, errors.New("the extra CA holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	hasKey := cfg.KeyFile != "" || len(cfg.KeyPEM) > 0
	switch {
	case cfg.CertFile == "" && hasKey:
		return nil, errors.New("a client key was given without its certificate")
	case cfg.CertFile != "" && !hasKey:
		return nil, errors.New("a client certificate was given without its key")
	case cfg.CertFile != "":
		certPEM, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("read client certificate: %w", err)
		}
		keyPEM := cfg.KeyPEM
		if len(keyPEM) == 0 {
			if keyPEM, err = os.ReadFile(cfg.KeyFile); err != nil {
				return nil, fmt.Errorf("read client key: %w", err)
			}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The library's words name what is wrong (no PEM block, key does not match)
			// and never quote the key.
			return nil, fmt.Errorf("client certificate %s and its key: %w", cfg.CertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
