// Package simtls makes the certificates Custody's built-in custodian simulators and tests use:
// one private CA, a server certificate for loopback, and a client certificate for mutual TLS.
//
// Nothing here turns verification off: clients trust the generated CA exactly as a user trusts
// a custodian's CA with --ca.
package simtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a private CA with one server and one client certificate issued by it.
type PKI struct {
	CACert *x509.Certificate
	// CAPEM, ServerCertPEM, ServerKeyPEM, ClientCertPEM and ClientKeyPEM are PEM encoded.
	CAPEM, ServerCertPEM, ServerKeyPEM, ClientCertPEM, ClientKeyPEM []byte
	caKey                                                           *ecdsa.PrivateKey
}

// New generates a CA, a server certificate valid for localhost, 127.0.0.1 and ::1, and a client
// certificate with the given common name.
func New(clientName string) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("simtls: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Custody simulator CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("simtls: CA: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := &PKI{CACert: caCert, CAPEM: pemBlock("CERTIFICATE", caDER), caKey: caKey}
	p.ServerCertPEM, p.ServerKeyPEM, err = p.Issue("localhost", x509.ExtKeyUsageServerAuth,
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	p.ClientCertPEM, p.ClientKeyPEM, err = p.Issue(clientName, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Issue makes a further certificate signed by the CA.
func (p *PKI) Issue(cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("simtls: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CACert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("simtls: issue %s: %w", cn, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("simtls: %w", err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// CAPool is a pool holding only the CA.
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	return pool
}

// ServerTLS is a server configuration presenting the server certificate. With
// requireClientCert it demands a client certificate issued by the CA, as custodians that use
// mutual TLS do.
func (p *PKI) ServerTLS(requireClientCert bool) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(p.ServerCertPEM, p.ServerKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("simtls: server key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.CAPool()
	}
	return cfg, nil
}

// ClientTLS is a client configuration that trusts the CA and presents the client certificate.
func (p *PKI) ClientTLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(p.ClientCertPEM, p.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("simtls: client key pair: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: p.CAPool(), MinVersion: tls.VersionTLS12}, nil
}

// Files are the paths of the PEM files a source configuration names (--ca, --cert, --key).
type Files struct {
	CA, ClientCert, ClientKey string
}

// WriteFiles writes the CA certificate and the client certificate and key into dir, the key
// with mode 0600, and returns their paths.
func (p *PKI) WriteFiles(dir string) (Files, error) {
	f := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("simtls: %w", err)
	}
	for path, data := range map[string][]byte{f.CA: p.CAPEM, f.ClientCert: p.ClientCertPEM, f.ClientKey: p.ClientKeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return f, fmt.Errorf("simtls: %w", err)
		}
	}
	return f, nil
}
