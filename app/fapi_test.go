package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// TestFAPIBankEndToEnd is the done-when: against a bank that accepts only
// private_key_jwt (then only tls_client_auth) and requires signed subscription requests,
// `sources add obevents ... --token-auth ... --signing-key F --signing-kid K` asks for no
// secret, `sync --once` drains the queue and verifies every event, and `sources remove`
// deletes the bank's subscription and says so.
func TestFAPIBankEndToEnd(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	plain := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	//lint:ignore SA1019 the legacy encrypted PEM openssl genrsa -aes256 writes, as users have it
	encBlock, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), []byte("open sesame"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(encBlock)
	pki, err := simtls.New("custody-fapi-tpp")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		auth     string
		keyFlag  string // --signing-key or --signing-key-keyring
		keyPEM   []byte
		stdin    string   // the passphrase, for an encrypted key
		keyring  []string // the fields the keyring holds after sources add
		flagsOut []string // flags that are not given
	}{
		{name: "private_key_jwt", auth: "private_key_jwt", keyFlag: "--signing-key", keyPEM: plain},
		{name: "tls_client_auth", auth: "tls_client_auth", keyFlag: "--signing-key", keyPEM: plain},
		{name: "private_key_jwt, key imported into the keyring", auth: "private_key_jwt", keyFlag: "--signing-key-keyring", keyPEM: plain,
			keyring: []string{"custody-bank/signing_key"}},
		{name: "private_key_jwt, encrypted key", auth: "private_key_jwt", keyFlag: "--signing-key", keyPEM: encrypted,
			stdin: "open sesame\n", keyring: []string{"custody-bank/signing_key_passphrase"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 12, InvalidEvery: 4,
				TokenAuth: tt.auth, ClientKey: &key.PublicKey, ClientKID: "kid-1", RequireSignedRequests: true})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			keyFile := filepath.Join(t.TempDir(), "signing.pem")
			if err := os.WriteFile(keyFile, tt.keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			src, _ := sim.DemoSource("custody-bank", files)
			cfg := src.Config
			c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
			args := []string{"sources", "add", "obevents", "custody-bank",
				"--base-url", cfg["base_url"], "--token-url", cfg["token_url"], "--client-id", cfg["client_id"],
				"--jwks-url", cfg["jwks_url"], "--issuer", cfg["issuer"], "--audience", cfg["audience"],
				"--cert", cfg["cert"], "--key", cfg["key"], "--ca", cfg["ca"],
				"--token-auth", tt.auth, tt.keyFlag, keyFile, "--signing-kid", "kid-1"}
			if tt.stdin != "" {
				args = append(args, "--secret-stdin")
			}
			code, out, errs := c.run(tt.stdin, args...)
			if code != 0 {
				t.Fatalf("sources add: %d %s %s", code, out, errs)
			}
			if strings.Contains(errs, "Client secret") {
				t.Fatalf("asked for a client secret: %q", errs)
			}
			if got := c.secrets.Fields(); !slices.Equal(got, tt.keyring) {
				t.Fatalf("keyring holds %v, want %v", got, tt.keyring)
			}
			// The list shows no client secret for a source that has none.
			if code, out, _ := c.run("", "sources", "list"); code != 0 || strings.Contains(out, "Client secret") ||
				!strings.Contains(out, "kid-1") || !strings.Contains(out, tt.auth) {
				t.Fatalf("sources list: %d\n%s", code, out)
			} else if tt.keyFlag == "--signing-key-keyring" && !strings.Contains(out, "imported into the OS keyring") {
				t.Fatalf("sources list does not say the key is in the keyring:\n%s", out)
			}
			if code, out, errs := c.run("", "sources", "test", "custody-bank"); code != 0 || !strings.Contains(out, "custody-bank: OK: token OK") {
				t.Fatalf("sources test: %d %s %s", code, out, errs)
			}
			if code, out, errs := c.run("", "sync", "--once", "custody-bank"); code != 0 {
				t.Fatalf("sync: %d\n%s\n%s\nbank refusals %v", code, out, errs, sim.Refusals())
			}
			if q := sim.Queue(); len(q) != 0 {
				t.Fatalf("queue not drained: %v", q)
			}
			if ref := sim.Refusals(); len(ref) != 0 {
				t.Fatalf("the bank refused: %v", ref)
			}
			if n := sim.SignedRequests(); n != 1 {
				t.Fatalf("%d signed subscription requests, want 1", n)
			}
			code, out, errs = c.run("", "events", "--json")
			if code != 0 {
				t.Fatalf("events: %d %s", code, errs)
			}
			valid, invalid := sim.Expected()
			verified := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var ev struct {
					JTI      string `json:"jti"`
					Verified bool   `json:"verified"`
				}
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("events line %q: %v", line, err)
				}
				verified[ev.JTI] = ev.Verified
			}
			for _, j := range valid {
				if !verified[j] {
					t.Errorf("valid event %s not stored as verified", j)
				}
			}
			for _, j := range invalid {
				if v, ok := verified[j]; !ok || v {
					t.Errorf("invalid event %s: listed %v, verified %v", j, ok, v)
				}
			}
			subs := sim.Subscriptions()
			if len(subs) != 1 {
				t.Fatalf("subscriptions %+v", subs)
			}
			code, out, errs = c.run("", "sources", "remove", "custody-bank")
			if code != 0 || !strings.Contains(out, "deleted the event subscription "+subs[0].EventSubscriptionID+" at the bank") {
				t.Fatalf("sources remove: %d %q %q", code, out, errs)
			}
			if left := sim.Subscriptions(); len(left) != 0 {
				t.Fatalf("the bank still has %+v", left)
			}
			if got := c.secrets.Fields(); len(got) != 0 {
				t.Fatalf("the keyring still holds %v", got)
			}
		})
	}
}

// TestSourcesRemoveWhenTheBankIsGone: the source is removed locally even when the bank
// cannot be reached, and the user is told why its subscription was not deleted.
func TestSourcesRemoveWhenTheBankIsGone(t *testing.T) {
	r := newOBRig(t, "custody-fapi-tpp", obtest.Options{Events: -1})
	sim, c := r.sim, r.c
	r.add(t, "bank")
	sim.Close()
	code, out, errs := c.run("", "sources", "remove", "bank")
	if code != 0 || !strings.Contains(out, "could not delete the source's registration at the bank") || !strings.Contains(out, "removed source bank") {
		t.Fatalf("sources remove: %d %q %q", code, out, errs)
	}
	if code, out, _ := c.run("", "sources", "list"); code != 0 || !strings.Contains(out, "no sources configured") {
		t.Fatalf("not removed locally: %s", out)
	}
}

// TestSourceFromFlagsFAPI checks the client authentication and signing flags: what each
// accepted combination stores, and the message of each refused one.
func TestSourceFromFlagsFAPI(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	certFile := filepath.Join(dir, "c.pem")
	for _, f := range []string{keyFile, certFile} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name  string
		flags map[string]string
		want  map[string]string // nil when refused
		err   string
	}{
		{name: "secret post", flags: map[string]string{"token-auth": "client_secret_post"}, want: map[string]string{"token_auth": "client_secret_post"}},
		{name: "jwt with a key file", flags: map[string]string{"token-auth": "private_key_jwt", "signing-key": keyFile, "signing-kid": "k1"},
			want: map[string]string{"token_auth": "private_key_jwt", "signing_key": keyFile, "signing_kid": "k1"}},
		{name: "jwt with a key to import", flags: map[string]string{"token-auth": "private_key_jwt", "signing-key-keyring": keyFile, "signing-kid": "k1"},
			want: map[string]string{"token_auth": "private_key_jwt", "signing_key_keyring": "true", "signing_kid": "k1"}},
		{name: "tls with a certificate and a signing key", flags: map[string]string{"token-auth": "tls_client_auth", "cert": certFile, "key": keyFile,
			"signing-key": keyFile, "signing-kid": "k1", "signing-iss": "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E", "subscription-version": "3.1.10"},
			want: map[string]string{"token_auth": "tls_client_auth", "cert": certFile, "key": keyFile, "signing_key": keyFile, "signing_kid": "k1",
				"signing_iss": "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E", "subscription_version": "3.1.10"}},
		{name: "unknown auth", flags: map[string]string{"token-auth": "client_secret_jwt"}, err: `--token-auth must be client_secret_basic, client_secret_post, private_key_jwt or tls_client_auth, not "client_secret_jwt"`},
		{name: "jwt without a key", flags: map[string]string{"token-auth": "private_key_jwt"}, err: "give --signing-key FILE"},
		{name: "key without a kid", flags: map[string]string{"signing-key": keyFile}, err: "--signing-kid go together"},
		{name: "kid without a key", flags: map[string]string{"signing-kid": "k"}, err: "--signing-kid go together"},
		{name: "both key flags", flags: map[string]string{"signing-key": keyFile, "signing-key-keyring": keyFile, "signing-kid": "k"}, err: "give one of them"},
		{name: "tls without a certificate", flags: map[string]string{"token-auth": "tls_client_auth"}, err: "give --cert FILE --key FILE"},
		{name: "missing key file", flags: map[string]string{"signing-key": filepath.Join(dir, "none"), "signing-kid": "k"}, err: "none"},
		{name: "version with a v", flags: map[string]string{"subscription-version": "v3.1"}, err: `--subscription-version "v3.1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			flags := obFlags()
			for k, v := range tt.flags {
				flags[k] = v
			}
			src, err := sourceFromFlags("obevents", "bank", func(f string) string { return flags[f] }, func(string) []string { return nil })
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if src.Config[k] != v {
					t.Errorf("%s = %q, want %q", k, src.Config[k], v)
				}
			}
		})
	}
	_, err := sourceFromFlags("greenbutton", "gb", func(f string) string {
		return map[string]string{"base-url": "https://u.example/espi", "token-url": "https://u.example/t", "client-id": "c", "token-auth": "private_key_jwt"}[f]
	}, func(string) []string { return nil })
	if err == nil || !strings.Contains(err.Error(), "--token-auth does not apply to a greenbutton source") {
		t.Fatalf("greenbutton: %v", err)
	}
}

// TestEventsJSONResourceStatus: after a sync with --follow, `custody events --json` gives
// each event its resource's status (empty for rejected events and account information) and
// the sentence saying what happened.
func TestEventsJSONResourceStatus(t *testing.T) {
	r := newOBRig(t, "custody-follow-tpp", obtest.Options{Events: 6, InvalidEvery: 6})
	sim, c := r.sim, r.c
	if _, err := sim.SetResource(obtest.Resource{Kind: "domestic-payments", ID: "dsp-0015", Status: "AcceptedSettlementCompleted", Amount: "120.00", Creditor: "ACME"}); err != nil {
		t.Fatal(err)
	}
	r.add(t, "bank", "--follow")
	if code, out, errs := c.run("", "sync", "--once", "bank"); code != 0 {
		t.Fatalf("sync: %d %s %s", code, out, errs)
	}
	code, out, errs := c.run("", "events", "--json")
	if code != 0 {
		t.Fatalf("events: %d %s", code, errs)
	}
	byRID := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if _, ok := ev["resource_status"]; !ok {
			t.Fatalf("no resource_status in %s", line)
		}
		if ev["verified"] == false && ev["resource_status"] != "" {
			t.Errorf("a rejected event has a resource status: %s", line)
		}
		byRID[ev["rid"].(string)] = ev
	}
	for rid, want := range map[string]string{"dsp-0015": "AcceptedSettlementCompleted", "pmt-0001": "AcceptedSettlementCompleted",
		"aac-0002": "Revoked", "acc-0004": ""} {
		if got := byRID[rid]["resource_status"]; got != want {
			t.Errorf("%s: resource_status %q, want %q", rid, got, want)
		}
	}
	if s, _ := byRID["dsp-0015"]["resource"].(string); !strings.HasPrefix(s, "Domestic payment dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted at ") {
		t.Errorf("sentence %q", s)
	}
	if s, _ := byRID["acc-0004"]["resource"].(string); s != "Account acc-0004: needs the customer's consent" {
		t.Errorf("account sentence %q", s)
	}
	code, out, _ = c.run("", "events")
	if code != 0 || !strings.Contains(out, "Domestic payment dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted") {
		t.Errorf("events table: %s", out)
	}
}

// TestSourcesEditToPrivateKeyJWT: a source added with a client secret is moved to
// private_key_jwt with `sources edit`, its key imported into the keyring, and syncs against a
// bank that accepts only that.
func TestSourcesEditToPrivateKeyJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	pki, err := simtls.New("custody-edit-tpp")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 4, InvalidEvery: -1,
		TokenAuth: obtest.TokenAuthJWT, ClientKey: &key.PublicKey, ClientKID: "k-2", RequireSignedRequests: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	src, _ := sim.DemoSource("bank", files)
	cfg := src.Config
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	if code, out, errs := c.run("old-secret\n", "sources", "add", "obevents", "bank",
		"--base-url", cfg["base_url"], "--token-url", cfg["token_url"], "--client-id", cfg["client_id"],
		"--jwks-url", cfg["jwks_url"], "--issuer", cfg["issuer"], "--audience", cfg["audience"],
		"--cert", cfg["cert"], "--key", cfg["key"], "--ca", cfg["ca"], "--secret-stdin"); code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errs)
	}
	if code, out, errs := c.run("", "sync", "--once", "bank"); code == 0 || !strings.Contains(out+errs, "a client secret is refused") {
		t.Fatalf("with the secret: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := c.run("", "sources", "edit", "bank", "--token-auth", "private_key_jwt",
		"--signing-key-keyring", keyFile, "--signing-kid", "k-2"); code != 0 {
		t.Fatalf("sources edit: %d %s %s", code, out, errs)
	}
	if got := c.secrets.Fields(); !slices.Contains(got, "bank/signing_key") {
		t.Fatalf("keyring %v: the key was not imported", got)
	}
	if code, out, errs := c.run("", "sync", "--once", "bank"); code != 0 {
		t.Fatalf("sync: %d\n%s\n%s\n%v", code, out, errs, sim.Refusals())
	}
	if q := sim.Queue(); len(q) != 0 || sim.SignedRequests() != 1 {
		t.Fatalf("queue %v, %d signed requests", q, sim.SignedRequests())
	}
}
