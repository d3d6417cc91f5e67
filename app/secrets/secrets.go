// Package secrets keeps Custody's secrets — client secrets, tokens, key passphrases, client
// keys — in the OS keyring (Secret Service, macOS Keychain, Windows Credential Manager), one
// item per database, source and field under the service name "custody". An item is named
// DATABASE-ID/SOURCE/FIELD, where DATABASE-ID is the random id the database was given when it
// was created, so two databases with a source of the same name never share a secret.
//
// There is no fallback to a file: when no keyring is reachable the caller gets
// [ErrUnavailable], whose message says what to do.
package secrets

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/zalando/go-keyring"
)

// Service is the keyring service name of every Custody secret.
const Service = "custody"

// MaxSize is the largest secret stored: the Windows Credential Manager holds at most 2,560 bytes.
const MaxSize = 2560

// ErrNotFound is returned when a source has no secret of that field.
var ErrNotFound = errors.New("no such secret in the keyring")

// ErrUnavailable is returned when no keyring can be reached.
var ErrUnavailable = errors.New("the OS keyring is not available: start and unlock a Secret Service " +
	"(GNOME Keyring, KWallet or KeePassXC) in your desktop session, then try again; " +
	"Custody never stores secrets in a file")

// ErrTooBig is returned for a secret larger than [MaxSize].
var ErrTooBig = fmt.Errorf("secret is larger than the %d bytes every OS keyring can hold", MaxSize)

// Store reads and writes the secrets of sources.
type Store interface {
	Secret(source, field string) (string, error)
	SetSecret(source, field, value string) error
	DeleteSecret(source, field string) error
}

// Scoper is a Store whose items can belong to one database.
type Scoper interface {
	// ForDatabase returns the same store, its items named by the database's id.
	ForDatabase(id string) Store
}

// Keyring is the OS keyring. Its zero value names items the way Custody did before items
// belonged to a database (SOURCE/FIELD); the app uses it only to move such items, and
// otherwise a Keyring made by ForDatabase.
type Keyring struct {
	// DB is the id of the database whose secrets these are.
	DB string
}

var (
	_ Store  = Keyring{}
	_ Scoper = Keyring{}
)

// ForDatabase returns the keyring of one database.
func (Keyring) ForDatabase(id string) Store { return Keyring{DB: id} }

func (k Keyring) item(source, field string) string {
	if k.DB == "" {
		return source + "/" + field
	}
	return k.DB + "/" + source + "/" + field
}

func item(source, field string) string { return source + "/" + field }

// classify turns a keyring library error into ErrNotFound, ErrTooBig or ErrUnavailable,
// keeping the library's words for the log.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%s: %w", op, ErrTooBig)
	}
	return fmt.Errorf("%s: %w (%v)", op, ErrUnavailable, err)
}

// Secret returns one secret of a source.
func (k Keyring) Secret(source, field string) (string, error) {
	v, err := keyring.Get(Service, k.item(source, field))
	return v, classify("read secret "+field+" of "+source, err)
}

// SetSecret stores one secret of a source, replacing any earlier value.
func (k Keyring) SetSecret(source, field, value string) error {
	if len(value) > MaxSize {
		return fmt.Errorf("store secret %s of %s: %w", field, source, ErrTooBig)
	}
	return classify("store secret "+field+" of "+source, keyring.Set(Service, k.item(source, field), value))
}

// DeleteSecret removes one secret of a source; removing an absent one is not an error.
func (k Keyring) DeleteSecret(source, field string) error {
	err := keyring.Delete(Service, k.item(source, field))
	if errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	return classify("delete secret "+field+" of "+source, err)
}

// Memory is an in-memory secret store. Custody uses it only in demo mode, where the
// credentials are the built-in simulators' and are thrown away on exit.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string]string{}} }

// Secret returns one secret of a source.
func (m *Memory) Secret(source, field string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[item(source, field)]
	if !ok {
		return "", fmt.Errorf("read secret %s of %s: %w", field, source, ErrNotFound)
	}
	return v, nil
}

// SetSecret stores one secret of a source.
func (m *Memory) SetSecret(source, field, value string) error {
	if len(value) > MaxSize {
		return fmt.Errorf("store secret %s of %s: %w", field, source, ErrTooBig)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[item(source, field)] = value
	return nil
}

// DeleteSecret removes one secret of a source.
func (m *Memory) DeleteSecret(source, field string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, item(source, field))
	return nil
}

// Fields lists the items held, for tests.
func (m *Memory) Fields() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Fields names the secret fields Custody may keep for a source, so that removing a source
// removes all of them.
var Fields = []string{"client_secret", "client_key", "key_passphrase", "access_token", "refresh_token", "signing_key", "signing_key_passphrase"}

// DeleteAll removes every secret of a source.
func DeleteAll(s Store, source string) error {
	var errs []string
	for _, f := range Fields {
		if err := s.DeleteSecret(source, f); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Replace stores values (secret by field) as source's secrets, in the order of fields, so that
// a failure leaves the keyring as it was: every field's earlier secret is read first (nothing
// is written when one cannot be read), and when a write fails the fields already written get
// their earlier secret back, or are deleted when they had none. The error then says whether
// the earlier secrets were put back.
func Replace(s Store, source string, fields []string, values map[string]string) error {
	type earlier struct {
		value string
		had   bool
	}
	before := make(map[string]earlier, len(fields))
	for _, f := range fields {
		v, err := s.Secret(source, f)
		switch {
		case err == nil:
			before[f] = earlier{v, true}
		case errors.Is(err, ErrNotFound):
			before[f] = earlier{}
		default:
			return err
		}
	}
	for i, f := range fields {
		err := s.SetSecret(source, f, values[f])
		if err == nil {
			continue
		}
		var failed []error
		for _, done := range fields[:i] {
			var rerr error
			if b := before[done]; b.had {
				rerr = s.SetSecret(source, done, b.value)
			} else {
				rerr = s.DeleteSecret(source, done)
			}
			if rerr != nil {
				failed = append(failed, rerr)
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%w; and the earlier secrets could not all be put back: %w", err, errors.Join(failed...))
		}
		return fmt.Errorf("%w (the earlier secrets are kept)", err)
	}
	return nil
}

// MoveLegacy moves the secrets the named sources kept under the old item names (SOURCE/FIELD,
// shared by every database) to the per-database names of to, and returns how many it moved.
// The old item is deleted only after the new one is written.
func MoveLegacy(from Keyring, to Store, sources []string) (int, error) {
	moved := 0
	for _, src := range sources {
		for _, f := range Fields {
			v, err := from.Secret(src, f)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return moved, err
			}
			if err := to.SetSecret(src, f, v); err != nil {
				return moved, err
			}
			if err := from.DeleteSecret(src, f); err != nil {
				return moved, err
			}
			moved++
		}
	}
	return moved, nil
}
