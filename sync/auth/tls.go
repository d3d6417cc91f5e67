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
}

// Timeouts of the clients NewHTTPClient makes. A whole exchange has no fixed limit (a first
// bulk download can take minutes): callers bound it with their context.
const (
	DialTimeout           = 30 * time.Second
	TLSHandshakeTimeout   = 20 * time.Second
	ResponseHeaderTimeout = 10 * time.Minute // custodians prepare large bulk answers before the first byte
	IdleConnTimeout       = 90 * time.Second
	maxRedirects          = 5
)

// NewHTTPClient returns a client with the given TLS settings: TLS 1.2 or later, the client
// certificate when one is given, the extra CA appended to the system's trusted roots, and
// verification always on. Redirects are followed at most 5 times and never from https to
// http.
func NewHTTPClient(cfg TLSConfig) (*http.Client, error) {
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		IdleConnTimeout:       IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   4,
		// HTTP/1.1 only: custodian gateways speak it, and a refused client certificate then
		// surfaces as the TLS alert it is (HTTP/2's connection setup hides it).
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}, nil
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "https" && via[len(via)-1].URL.Scheme == "https" {
		return fmt.Errorf("refused a redirect from https to %s", req.URL.Scheme)
	}
	return nil
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
