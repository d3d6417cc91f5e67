package obevents

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"custody/store"
	"custody/sync/settings"
)

// Settings of the FAPI security profile UK banks follow (see DESIGN.md, "Open Banking at a
// bank that follows the FAPI profile"). All are optional; without them the source
// authenticates with its client secret, as before.
const (
	// CfgTokenAuth is how the client authenticates at the token endpoint: one of TokenAuths;
	// default client_secret_basic.
	CfgTokenAuth = "token_auth"
	// CfgSigningKey is the path of the TPP's signing key (PEM, PKCS#1 or PKCS#8, RSA), a file
	// the user keeps.
	CfgSigningKey = "signing_key"
	// CfgSigningKeyKeyring is "true" when the signing key was imported into the keyring
	// (field SecretSigningKey) instead of being read from a file.
	CfgSigningKeyKeyring = "signing_key_keyring"
	// CfgSigningKID is the kid of the signing key in the trust anchor's key store.
	CfgSigningKID = "signing_kid"
	// CfgSigningISS is the http://openbanking.org.uk/iss of signed requests: for the Open
	// Banking Directory "{org-id}/{software-statement-id}"; default the client id.
	CfgSigningISS = "signing_iss"
	// CfgSigningTAN is the trust anchor of the signing key (http://openbanking.org.uk/tan);
	// default openbanking.org.uk.
	CfgSigningTAN = "signing_tan"
	// CfgSubscriptionVersion is the Version of the event subscription, such as 3.1.10;
	// default the version in the base URL.
	CfgSubscriptionVersion = "subscription_version"
)

// Keyring fields of an obevents source beside the client secret.
const (
	// SecretClientSecret is the client secret, for the client_secret_* token auths.
	SecretClientSecret = settings.KeyClientSecret
	// SecretSigningKey is the signing key's PEM when it was imported into the keyring.
	SecretSigningKey = "signing_key"
	// SecretSigningKeyPassphrase is the passphrase of an encrypted signing key.
	SecretSigningKeyPassphrase = "signing_key_passphrase"
)

// Token endpoint authentication methods (RFC 7591 names).
const (
	TokenAuthBasic = "client_secret_basic"
	TokenAuthPost  = "client_secret_post"
	TokenAuthJWT   = "private_key_jwt"
	TokenAuthTLS   = "tls_client_auth"
)

// TokenAuths are the values CfgTokenAuth allows, the default first.
var TokenAuths = []string{TokenAuthBasic, TokenAuthPost, TokenAuthJWT, TokenAuthTLS}

// NeedsSecret reports whether a token auth method (empty for the default) authenticates with
// the client secret; private_key_jwt and tls_client_auth need none.
func NeedsSecret(tokenAuth string) bool {
	return tokenAuth == "" || tokenAuth == TokenAuthBasic || tokenAuth == TokenAuthPost
}

// ClientAssertionType is the client_assertion_type of an RFC 7523 client assertion.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLife is how long a client assertion is valid: FAPI asks for at most 5 minutes;
// one minute leaves room for clock skew and is enough for one token request.
const assertionLife = time.Minute

// Open Banking JOSE header names of signed requests (the detached x-jws-signature).
const (
	HeaderOBIat = "http://openbanking.org.uk/iat"
	HeaderOBIss = "http://openbanking.org.uk/iss"
	HeaderOBTan = "http://openbanking.org.uk/tan"
	// DefaultTAN is the trust anchor of the Open Banking Directory.
	DefaultTAN = "openbanking.org.uk"
)

// OBCrit is the crit header of a signed request from Open Banking 3.1.4 on (no b64).
var OBCrit = []string{HeaderOBIat, HeaderOBIss, HeaderOBTan}

// maxSigningKeyPEM bounds a signing key file (an RSA 4096 key in PEM is about 3.3 KB).
const maxSigningKeyPEM = 64 << 10

// ErrKeyEncrypted is returned, wrapped, for an encrypted signing key given no passphrase.
var ErrKeyEncrypted = errors.New("the signing key is encrypted: its passphrase is needed")

// KeyEncrypted reports whether a PEM signing key is encrypted (legacy "Proc-Type: 4,ENCRYPTED"
// PEM or PKCS#8 "ENCRYPTED PRIVATE KEY"), so that its passphrase must be asked for.
func KeyEncrypted(pemBytes []byte) bool {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return false
	}
	return b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
}

// ParseSigningKey reads an RSA private key from PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8
// "PRIVATE KEY"; a legacy encrypted PEM with its passphrase). PS256 needs RSA of at least 2048
// bits. The errors name what is wrong and never quote the key.
func ParseSigningKey(pemBytes []byte, passphrase string) (*rsa.PrivateKey, error) {
	if len(pemBytes) > maxSigningKeyPEM {
		return nil, fmt.Errorf("signing key: larger than %d bytes: not a PEM key", maxSigningKeyPEM)
	}
	var block *pem.Block
	rest := pemBytes
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("signing key: no PEM private key block (want RSA PRIVATE KEY or PRIVATE KEY)")
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	encrypted := false // by a passphrase, in legacy PEM
	der := block.Bytes
	switch {
	case block.Type == "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("signing key: an encrypted PKCS#8 key is not supported; " +
			"decrypt it (openssl pkey -in KEY -out PLAIN) or use a PKCS#1 key with a passphrase")
	case strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
		if passphrase == "" {
			return nil, fmt.Errorf("signing key: %w", ErrKeyEncrypted)
		}
		encrypted = true
		var err error
		// Legacy encrypted PEM is what `openssl genrsa -aes256` writes; its weakness concerns
		// the key at rest only and never reaches the wire.
		//lint:ignore SA1019 legacy encrypted PEM signing keys are still common
		if der, err = x509.DecryptPEMBlock(block, []byte(passphrase)); err != nil {
			return nil, errors.New("signing key: the passphrase does not open it")
		}
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil && encrypted {
			// Legacy PEM encryption finds a wrong passphrase only by the padding, which a
			// wrong key passes about once in 256 tries: what it then decrypts is no key.
			return nil, errors.New("signing key: the passphrase does not open it")
		}
		if err != nil {
			return nil, errors.New("signing key: not a readable PKCS#1 RSA key")
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, errors.New("signing key: not a readable PKCS#8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key: a %T key; PS256 needs an RSA key", k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("signing key: a %s block; PS256 needs an RSA key (RSA PRIVATE KEY or PRIVATE KEY)", block.Type)
	}
	if key.N.BitLen() < 2048 {
		return nil, fmt.Errorf("signing key: RSA %d bits; PS256 needs at least 2048", key.N.BitLen())
	}
	return key, nil
}

// Signer signs what a FAPI bank wants signed with the TPP's key: client assertions (RFC 7523)
// and request bodies (the detached x-jws-signature).
type Signer struct {
	Key *rsa.PrivateKey
	KID string
	// ISS and TAN are the Open Banking header values of signed requests.
	ISS, TAN string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// fingerprint identifies the signer's settings (not the key's secret) for the client cache.
func (s *Signer) fingerprint() string {
	if s == nil {
		return ""
	}
	h := sha256.Sum256(s.Key.N.Bytes())
	return hex.EncodeToString(h[:8]) + "|" + s.KID + "|" + s.ISS + "|" + s.TAN
}

// newJTI returns 128 random bits, hex encoded.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClientAssertion returns a new RFC 7523 client assertion for the token endpoint aud: PS256,
// header kid, iss = sub = clientID, a fresh jti, iat now and exp one minute later.
func (s *Signer) ClientAssertion(clientID, aud string) (string, error) {
	now := s.now()
	claims, err := json.Marshal(map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud, "jti": newJTI(),
		"iat": now.Unix(), "exp": now.Add(assertionLife).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set("kid", s.KID); err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	if err := hdr.Set("typ", "JWT"); err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	out, err := jws.Sign(claims, jws.WithKey(jwa.PS256(), s.Key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("client assertion: sign: %w", err)
	}
	return string(out), nil
}

// DetachedSignature returns the x-jws-signature of body: a compact JWS with an empty payload
// part ("header..signature"), PS256, kid, and the Open Banking iat/iss/tan headers listed in
// crit, without b64 (Open Banking 3.1.4 on), signed over the exact bytes of body.
func (s *Signer) DetachedSignature(body []byte) (string, error) {
	tan := s.TAN
	if tan == "" {
		tan = DefaultTAN
	}
	hdr := jws.NewHeaders()
	for _, kv := range []struct {
		k string
		v any
	}{{"kid", s.KID}, {"typ", "JOSE"}, {"cty", "application/json"}, {HeaderOBIat, s.now().Unix()},
		{HeaderOBIss, s.ISS}, {HeaderOBTan, tan}, {"crit", slices.Clone(OBCrit)}} {
		if err := hdr.Set(kv.k, kv.v); err != nil {
			return "", fmt.Errorf("sign request: header %s: %w", kv.k, err)
		}
	}
	out, err := jws.Sign(nil, jws.WithKey(jwa.PS256(), s.Key, jws.WithProtectedHeaders(hdr)), jws.WithDetachedPayload(body))
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return string(out), nil
}

// tokenAuthSetting is --token-auth, the client authentication at the token endpoint.
func tokenAuthSetting() settings.Setting {
	return settings.Setting{Key: CfgTokenAuth, Flag: "token-auth", Label: "Client authentication", Type: settings.Choice,
		Choices: TokenAuths, Default: TokenAuthBasic,
		Hint: "how the client authenticates at the token endpoint (FAPI banks take private_key_jwt or tls_client_auth, with no secret)"}
}

// clientSecretSetting is the client secret, needed only by the client_secret_* token auths.
func clientSecretSetting() settings.Setting {
	s := settings.ClientSecret()
	s.NeededBy = func(src store.Source, _ map[string]string) bool { return NeedsSecret(src.Config[CfgTokenAuth]) }
	return s
}

// fapiSettings are the signing key and the other settings of a bank that follows the FAPI
// profile, after the kind's common ones.
func fapiSettings() []settings.Setting {
	return []settings.Setting{
		{Key: CfgSigningKey, Flag: "signing-key", Label: "Signing key", Type: settings.File,
			Hint: "your RSA signing key (PEM, PKCS#1 or PKCS#8), a file you keep, for private_key_jwt and signed requests"},
		{Key: CfgSigningKeyKeyring, Flag: "signing-key-keyring", Label: "Signing key (into the keyring)", Type: settings.File,
			Import: SecretSigningKey, Advanced: true,
			Hint: "import this signing key file into the OS keyring instead of keeping it in a file"},
		{Key: CfgSigningKID, Flag: "signing-kid", Label: "Signing key id", Type: settings.Text, Check: checkToken,
			Hint: "the signing key's kid in the trust anchor's key store (the Open Banking Directory)"},
		{Key: CfgSigningISS, Flag: "signing-iss", Label: "Signer (iss)", Type: settings.Text, Advanced: true, Check: checkToken,
			Hint: "http://openbanking.org.uk/iss of signed requests: ORG-ID/SOFTWARE-STATEMENT-ID (default the client id)"},
		{Key: CfgSigningTAN, Flag: "signing-tan", Label: "Trust anchor", Type: settings.Text, Advanced: true, Check: checkToken,
			Default: DefaultTAN, Hint: "trust anchor of the signing key (http://openbanking.org.uk/tan)"},
		{Key: CfgSubscriptionVersion, Flag: "subscription-version", Label: "Subscription version", Type: settings.Text, Advanced: true,
			Check: checkVersion, Hint: "Version of the event subscription, such as 3.1.10 (default the base URL's)"},
		{Key: SecretSigningKeyPassphrase, Label: "Signing key passphrase", Type: settings.Secret, Required: true,
			NeededBy: signingKeyEncrypted, Hint: "the passphrase of your encrypted signing key; goes straight to the OS keyring"},
	}
}

// signingKeyEncrypted reports whether the source's signing key (its file, or the one being
// imported into the keyring) is encrypted, so that its passphrase is needed.
func signingKeyEncrypted(src store.Source, imported map[string]string) bool {
	if k, ok := imported[SecretSigningKey]; ok {
		return KeyEncrypted([]byte(k))
	}
	if p := src.Config[CfgSigningKey]; p != "" {
		b, err := readKeyFile(p)
		return err == nil && KeyEncrypted(b)
	}
	return false
}

// readKeyFile reads a signing key file, bounded.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSigningKeyPEM+1))
}

// checkToken accepts a value without spaces, such as a kid.
func checkToken(v string) (string, error) {
	if len(v) > 200 || strings.ContainsFunc(v, unicode.IsSpace) {
		return v, errors.New("give a value without spaces")
	}
	return v, nil
}

// checkVersion accepts an Event Notification API version as a subscription writes it.
func checkVersion(v string) (string, error) {
	if len(v) > 10 || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' }) {
		return v, errors.New("give a version such as 3.1.10 or 4.0 (at most 10 characters, no v)")
	}
	return v, nil
}

// checkFAPI checks the rules between the client authentication and signing settings.
func checkFAPI(src store.Source) error {
	c := src.Config
	auth := c[CfgTokenAuth]
	if c[CfgSigningKey] != "" && c[CfgSigningKeyKeyring] != "" {
		return errors.New("--signing-key keeps the key in your file, --signing-key-keyring imports it into the keyring: give one of them")
	}
	hasKey := c[CfgSigningKey] != "" || c[CfgSigningKeyKeyring] != ""
	if hasKey != (c[CfgSigningKID] != "") {
		return errors.New("a signing key and --signing-kid go together: the kid names the key in the bank's key store")
	}
	if auth == TokenAuthJWT && !hasKey {
		return errors.New("--token-auth private_key_jwt signs with your key: give --signing-key FILE (or --signing-key-keyring FILE) and --signing-kid KID")
	}
	if auth == TokenAuthTLS && c[CfgCert] == "" {
		return errors.New("--token-auth tls_client_auth authenticates with your client certificate: give --cert FILE --key FILE")
	}
	return nil
}

// checkSigningKey checks, before anything goes to the keyring, that the source's signing key
// (imported, or its file) is a usable key and that the passphrase given opens it.
func checkSigningKey(src store.Source, keep map[string]string) error {
	var pemBytes []byte
	switch {
	case keep[SecretSigningKey] != "":
		pemBytes = []byte(keep[SecretSigningKey])
	case src.Config[CfgSigningKey] != "":
		b, err := readKeyFile(src.Config[CfgSigningKey])
		if err != nil {
			return fmt.Errorf("--signing-key: %w", err)
		}
		pemBytes = b
	default:
		return nil
	}
	pass, given := keep[SecretSigningKeyPassphrase]
	if KeyEncrypted(pemBytes) && !given {
		return nil // an existing source's passphrase stays as it is
	}
	if _, err := ParseSigningKey(pemBytes, pass); err != nil {
		return err
	}
	return nil
}
