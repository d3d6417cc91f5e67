package obevents

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/obevents/secevent"
)

// ReceiverPath is where a TPP's event-notifications endpoint lives, after an API version
// prefix such as /open-banking/v3.1.
const ReceiverPath = "/event-notifications"

// Receiver is the real-time event-notifications endpoint of one source (RFC 8935 push, Open
// Banking real-time notification): it verifies the pushed token, stores it (rejected ones too)
// and answers 202, or 400 with the RFC 8935 error JSON for a bad token, or 5xx when Custody
// itself could not store it (the bank then retries). It is off unless sync/notify mounts it.
type Receiver struct {
	store    *store.Store
	sourceID int64
	verifier *secevent.Verifier
	draft    bool
	log      *slog.Logger

	// RejectRate and RejectBurst limit the rejected tokens stored per peer (IP address);
	// zero means DefaultRejectRate and DefaultRejectBurst. Past the limit a rejected token
	// is answered 429 and not stored.
	RejectRate  rate.Limit
	RejectBurst int

	mu     sync.Mutex
	peers  map[string]*rate.Limiter
	global *rate.Limiter
}

// What a rejected push token may cost: the first MaxRejectedKept bytes are stored (with the
// whole token's length and SHA-256), and each peer may have DefaultRejectBurst rejected at
// once, then DefaultRejectRate a second; all peers together ten times that. Anyone who can
// reach the listener can push forged tokens (300 forged 60 KB tokens grew a database by 22 MB
// in 9 s); a client CA on the listener (notify_client_ca) is the real guard.
const (
	MaxRejectedKept               = 4 << 10
	DefaultRejectRate  rate.Limit = 1
	DefaultRejectBurst            = 20
	maxPeers                      = 4096
)

// boundRejected is what is kept of a rejected token: all of it up to MaxRejectedKept bytes,
// else its start and a note with its length and digest.
func boundRejected(token string) string {
	if len(token) <= MaxRejectedKept {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return fmt.Sprintf("%s…[cut: %d bytes in all, sha256 %x]", token[:MaxRejectedKept], len(token), sum)
}

// allowRejection says whether another rejected token from r's peer may be stored.
func (rc *Receiver) allowRejection(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lim, burst := rc.RejectRate, rc.RejectBurst
	if lim <= 0 {
		lim = DefaultRejectRate
	}
	if burst <= 0 {
		burst = DefaultRejectBurst
	}
	if rc.global == nil {
		rc.global = rate.NewLimiter(10*lim, 10*burst)
	}
	if rc.peers == nil || len(rc.peers) >= maxPeers {
		rc.peers = map[string]*rate.Limiter{} // bounded memory; the global limit still holds
	}
	p := rc.peers[host]
	if p == nil {
		p = rate.NewLimiter(lim, burst)
		rc.peers[host] = p
	}
	return p.Allow() && rc.global.Allow()
}

// NewReceiver returns the push endpoint of a source. Mount it at the path of the CallbackUrl
// registered with the bank (ending in /event-notifications). draft selects the draft error
// codes for banks that expect them.
func NewReceiver(st *store.Store, src store.Source, v *secevent.Verifier, draft bool, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{store: st, sourceID: src.ID, verifier: v, draft: draft, log: log.With("source", src.Name, "kind", "obevents")}
}

// NewReceiverFor builds the verifier of an obevents source from its settings (the key set is
// fetched with the source's TLS trust, never with a token) and returns its push endpoint.
func NewReceiverFor(st *store.Store, src store.Source, log *slog.Logger) (http.Handler, error) {
	c := src.Config
	plain, err := auth.NewHTTPClient(auth.TLSConfig{CAFile: c[CfgCA]})
	if err != nil {
		return nil, err
	}
	v := &secevent.Verifier{Issuer: c[CfgIssuer], Audience: c[CfgAudience], OrgID: c[CfgOrgID],
		Keys: &secevent.JWKS{URL: c[CfgJWKSURL], Client: plain}}
	if a := strings.TrimSpace(c[CfgAlgs]); a != "" {
		for _, x := range strings.Split(a, ",") {
			v.Algs = append(v.Algs, strings.TrimSpace(x))
		}
	}
	return NewReceiver(st, src, v, c[CfgErrorCodes] == "draft", log), nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ServeHTTP handles one pushed token.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Echo the interaction id, but only a well-formed one (no header injection).
	if id := r.Header.Get("x-fapi-interaction-id"); uuidRE.MatchString(id) {
		w.Header().Set("x-fapi-interaction-id", id)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/jwt", "application/secevent+jwt", "application/jose", "text/plain":
		default:
			rc.refuse(w, &secevent.Rejection{Code: secevent.ErrInvalidRequest, Draft: "jwtParse", Description: "content type " + mt + " is not a JWT"})
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, secevent.MaxTokenSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rc.refuse(w, &secevent.Rejection{Code: secevent.ErrInvalidRequest, Draft: "jwtParse", Description: "the body is larger than the 64 KiB accepted"})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	token := strings.TrimSpace(string(body))
	set, err := rc.verifier.Verify(r.Context(), token)
	rej, rejected := secevent.IsRejection(err)
	if err != nil && !rejected {
		// Our own problem (the key set unreachable): the bank retries later.
		rc.log.Warn("push: cannot verify now", "op", "push", "err", err)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "temporarily unable to verify", http.StatusServiceUnavailable)
		return
	}
	if rejected {
		if !rc.allowRejection(r) {
			rc.log.Debug("push: rejected token not stored, too many from this peer", "op", "push", "err", rej.Code)
			w.Header().Set("Retry-After", "60")
			http.Error(w, "too many rejected tokens", http.StatusTooManyRequests)
			return
		}
		token = boundRejected(token)
	}
	v := verdict{key: set.JTI, token: token, set: set, rej: rej}
	if _, err := storeVerdicts(context.WithoutCancel(r.Context()), rc.store, rc.sourceID, r.URL.Path, nil, []verdict{v},
		storeOptions{draft: rc.draft, window: DefaultJTIWindow}); err != nil {
		rc.log.Error("push: store", "op", "push", "err", err)
		http.Error(w, "could not store the event", http.StatusInternalServerError)
		return
	}
	if rejected {
		rc.log.Info("push: token rejected", "op", "push", "err", rej.Code)
		rc.refuse(w, rej)
		return
	}
	rc.log.Info("push: event stored", "op", "push", "count", 1)
	w.WriteHeader(http.StatusAccepted)
}

// refuse answers 400 with the RFC 8935 §2.3 error body.
func (rc *Receiver) refuse(w http.ResponseWriter, rej *secevent.Rejection) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Language", "en")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"err": rej.CodeFor(rc.draft), "description": truncate(rej.Description, 250)})
}

// ReceiverFor returns, for sync/notify's HandlerFor, the push endpoint of each obevents source
// (nil for sources of other kinds). A source whose settings cannot make a verifier gets a
// handler that answers 503 and logs why, so the bank retries once the settings are fixed.
func ReceiverFor(st *store.Store, log *slog.Logger) func(src store.Source) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(src store.Source) http.Handler {
		if src.Kind != "obevents" {
			return nil
		}
		h, err := NewReceiverFor(st, src, log)
		if err != nil {
			log.Error("push receiver", "source", src.Name, "kind", src.Kind, "op", "push", "err", err)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "the receiver is not configured", http.StatusServiceUnavailable)
			})
		}
		return h
	}
}
