package obevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"custody/store"
	"custody/sync/crashpoint"
	"custody/sync/obevents/secevent"
	"custody/sync/syncerr"
)

// Pending acknowledgement kinds in the store.
const (
	pendingAck    = "ack"
	pendingSetErr = "seterr"
)

// Stats counts what one sync did.
type Stats struct {
	Received int // tokens received (redeliveries included)
	New      int // events stored for the first time
	Rejected int // tokens rejected (each distinct one once)
	Acked    int // acks sent
	SetErrs  int // setErrs sent
	Polls    int
	Deferred int // tokens neither acknowledged nor rejected because of a temporary local failure

	deferredErr error // why the first deferred token could not be checked
}

// Note is the one-line summary for the user, such as "12 events (1 rejected)": the events
// stored for the first time, rejected ones included.
func (s Stats) Note() string {
	n := fmt.Sprintf("%d events (%d rejected)", s.New+s.Rejected, s.Rejected)
	if s.Deferred > 0 {
		n += fmt.Sprintf(", %d deferred", s.Deferred)
	}
	return n
}

// Poller drains a bank's aggregated polling queue into the store.
type Poller struct {
	Client   *Client
	Verifier *secevent.Verifier
	Store    *store.Store
	Source   store.Source
	// MaxEvents is the maxEvents sent with each poll; default 10.
	MaxEvents int
	// MaxPolls bounds the requests of one sync; default DefaultMaxPolls.
	MaxPolls int
	// DraftCodes sends the draft-ietf-secevent-http-push-03 error codes in setErrs.
	DraftCodes bool
	// JTIWindow: tokens with the same jti whose iat are this close are one event; default
	// DefaultJTIWindow; negative means a jti is never reused.
	JTIWindow time.Duration
	Logger    *slog.Logger
	Progress  func(done int, msg string)
	// afterStore, when set, is called after a batch is committed and before its
	// acknowledgements are sent (tests use it to simulate a crash there).
	afterStore func() error
}

// verdict is the outcome of one token of a poll answer.
type verdict struct {
	key   string
	token string
	set   secevent.SET
	rej   *secevent.Rejection
	err   error // temporary failure: neither ack nor setErr
}

// Run sends what is owed from earlier runs, then polls until the bank has no more
// (moreAvailable false) or MaxPolls is reached, storing every token and acknowledging it
// after the commit in the next request. It returns only once what it stored has been
// acknowledged (by a last poll that finds nothing more, or an acknowledge-only request with
// maxEvents 0), so a drained queue is left empty.
func (p *Poller) Run(ctx context.Context) (Stats, error) {
	var st Stats
	maxEvents := p.MaxEvents
	if maxEvents <= 0 {
		maxEvents = 10
	}
	maxPolls := p.MaxPolls
	if maxPolls <= 0 {
		maxPolls = DefaultMaxPolls
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// What is owed is read from the store once; afterwards it is what the last transaction
	// recorded (the acks of the events it stored), which the next request sends.
	owed, err := p.Store.PendingAcksOf(ctx, p.Source.ID)
	if err != nil {
		return st, syncerr.E(syncerr.Local, "pending acks", err)
	}
	for {
		acks, errs := splitOwed(owed)
		// Once the poll budget is spent, only what is owed is sent; a bank that keeps sending
		// events all the same is left for the next run (what is owed stays recorded).
		n := maxEvents
		if st.Polls >= maxPolls || st.Deferred > 0 {
			if len(acks)+len(errs) == 0 || st.Polls >= maxPolls+5 {
				break
			}
			n = 0
		}
		req := secevent.PollRequest{MaxEvents: &n, ReturnImmediately: true}
		var sent []int64
		for _, a := range acks {
			req.Ack = append(req.Ack, a.Item)
			sent = append(sent, a.ID)
		}
		if len(errs) > 0 {
			req.SetErrs = map[string]secevent.SetErr{}
			for _, e := range errs {
				req.SetErrs[e.Item] = secevent.SetErr{Err: e.Detail["err"], Description: e.Detail["description"]}
				sent = append(sent, e.ID)
			}
		}
		p.progress(st.Received, fmt.Sprintf("POST /events (ack %d, setErrs %d)", len(req.Ack), len(req.SetErrs)))
		resp, raw, err := p.Client.Poll(ctx, req)
		st.Polls++
		if err != nil {
			if raw != nil {
				p.archiveBad(ctx, raw, err)
			}
			return st, err
		}
		st.Acked += len(req.Ack)
		st.SetErrs += len(req.SetErrs)
		if len(sent) > 0 {
			crashpoint.Hit(crashpoint.AfterAck)
		}
		if len(sent) > 0 && len(resp.Sets) == 0 {
			if err := p.Store.DeletePendingAcks(ctx, sent); err != nil {
				// They stay owed and are sent again by the next sync: harmless, a repeated
				// ack is allowed.
				log.Warn("forget sent acknowledgements", "source", p.Source.Name, "op", "ack", "err", err)
			}
		}
		owed = nil
		if len(resp.Sets) > 0 {
			// What was sent is forgotten in the transaction that stores the answer's events;
			// should it fail, they stay owed and are sent again, which is harmless.
			if owed, err = p.handle(ctx, raw, resp.Sets, sent, &st); err != nil {
				return st, err
			}
			crashpoint.Hit(crashpoint.AfterCommit)
			if p.afterStore != nil {
				if err := p.afterStore(); err != nil {
					return st, err
				}
			}
			continue
		}
		if n == 0 || !resp.MoreAvailable {
			// Nothing came, and what was owed has been sent: done.
			break
		}
	}
	if st.Deferred > 0 {
		if k := syncerr.KindOf(st.deferredErr); k != syncerr.Unknown && k != syncerr.Network {
			// Such as a key set larger than the limit: the bank's problem, said as such.
			return st, syncerr.E(k, "verify events", fmt.Errorf("%d tokens could not be checked now (they will come again): %w", st.Deferred, st.deferredErr))
		}
		return st, syncerr.Errorf(syncerr.Network, "verify events",
			"%d tokens could not be checked now (the bank's key set was unreachable); they will come again", st.Deferred)
	}
	return st, nil
}

// splitOwed separates the acks and the setErrs owed to the bank.
func splitOwed(all []store.PendingAck) (acks, errs []store.PendingAck) {
	for _, a := range all {
		switch a.Kind {
		case pendingAck:
			acks = append(acks, a)
		case pendingSetErr:
			errs = append(errs, a)
		}
	}
	return acks, errs
}

func (p *Poller) progress(done int, msg string) {
	if p.Progress != nil {
		p.Progress(done, msg)
	}
}

// archiveBad keeps an answer that could not be read, with its error.
func (p *Poller) archiveBad(ctx context.Context, raw []byte, cause error) {
	pl, _, err := p.Store.Archive(ctx, store.Payload{SourceID: p.Source.ID, Format: "set", URL: p.Client.base + "/events"}, strings.NewReader(string(raw)))
	if err == nil {
		_ = p.Store.SetPayloadStatus(ctx, pl.ID, store.PayloadFailed, cause.Error())
	}
}

// handle verifies one poll answer's tokens and stores them with their acknowledgements in one
// transaction, which also forgets the pending acknowledgements (ids) the poll's request sent.
// It returns the acknowledgements now owed.
func (p *Poller) handle(ctx context.Context, raw []byte, sets map[string]string, sent []int64, st *Stats) ([]store.PendingAck, error) {
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	verdicts := make([]verdict, 0, len(keys))
	for _, k := range keys {
		v := verdict{key: k, token: sets[k]}
		v.set, v.err = p.Verifier.Verify(ctx, v.token)
		if v.err == nil && v.set.JTI != k {
			v.err = &secevent.Rejection{Code: secevent.ErrInvalidRequest, Draft: "setData",
				Description: fmt.Sprintf("sets key %q differs from the token's jti %q", k, v.set.JTI)}
		}
		if r, ok := secevent.IsRejection(v.err); ok {
			v.rej, v.err = r, nil
		}
		if v.err != nil && st.deferredErr == nil {
			st.deferredErr = v.err
		}
		verdicts = append(verdicts, v)
	}
	st.Received += len(verdicts)
	window := p.JTIWindow
	if window == 0 {
		window = DefaultJTIWindow
	}
	res, err := storeVerdicts(ctx, p.Store, p.Source.ID, p.Client.base+"/events", raw, verdicts,
		storeOptions{draft: p.DraftCodes, owe: true, window: window, forget: sent})
	if err != nil {
		return nil, err
	}
	st.New += res.New
	st.Rejected += res.Rejected
	st.Deferred += res.Deferred
	return res.Owed, nil
}

// storeOptions say how storeVerdicts stores.
type storeOptions struct {
	draft bool // setErrs carry the draft error codes
	owe   bool // record the ack or setErr each token needs
	// window is how far apart the iat of two tokens with the same jti may be for the second
	// to be a repeat of the first; see store.Tx.PutEventWindow.
	window time.Duration
	// forget are pending acknowledgements the bank has received, deleted in the same
	// transaction.
	forget []int64
}

// DefaultMaxPolls bounds the polls of one sync. A bank that caps an answer at 10 events (as
// several do) drains a backlog of 20,000 events in one sync; a bank that never runs dry is
// still left for the next run.
const DefaultMaxPolls = 2000

// DefaultJTIWindow is the default of the jti_window setting.
const DefaultJTIWindow = 30 * 24 * time.Hour

// storeResult counts what storeVerdicts did.
type storeResult struct {
	New, Rejected, Deferred int
	Owed                    []store.PendingAck // the acknowledgements recorded, with their ids
}

// storeVerdicts archives what was received and stores every token's event, verified or
// rejected, and, when owe is set, the acknowledgement it needs, all in one transaction. raw is
// the body the tokens came in (a poll answer), archived once with format "set"; when raw is
// nil each token is archived by itself. Tokens with a temporary failure are archived only.
func storeVerdicts(ctx context.Context, s *store.Store, sourceID int64, url string, raw []byte, vs []verdict, o storeOptions) (storeResult, error) {
	var res storeResult
	tx, err := s.Begin(ctx)
	if err != nil {
		return res, syncerr.E(syncerr.Local, "store events", err)
	}
	defer tx.Rollback()
	tx.Uninterrupted()
	var whole store.Payload
	var existed bool
	if raw != nil {
		// Rejected tokens carry their reason in their events; the answer itself was read.
		// Only a token that could not be checked leaves it pending.
		whole = store.Payload{SourceID: sourceID, Format: "set", URL: url, Status: store.PayloadParsed}
		var deferred []string
		for _, v := range vs {
			if v.err != nil {
				deferred = append(deferred, v.key+": "+v.err.Error())
			}
		}
		if len(deferred) > 0 {
			whole.Status, whole.Error = store.PayloadPending, "not verified yet: "+truncate(strings.Join(deferred, "; "), 500)
		}
		status, perr := whole.Status, whole.Error
		if whole, existed, err = tx.ArchiveBytes(whole, raw); err != nil {
			return res, syncerr.E(syncerr.Local, "archive poll answer", err)
		}
		if existed {
			// The same answer came before: it gets this outcome.
			if err := tx.SetPayloadStatus(whole.ID, status, perr); err != nil {
				return res, syncerr.E(syncerr.Local, "archive poll answer", err)
			}
		}
	}
	if err := tx.DeletePendingAcks(o.forget); err != nil {
		return res, syncerr.E(syncerr.Local, "forget sent acknowledgements", err)
	}
	// Each token's payload (its own when there is no answer to archive), then every event in
	// one go, then what each needs.
	pls := make([]store.Payload, len(vs))
	evs := make([]store.Event, 0, len(vs))
	for i, v := range vs {
		pls[i] = whole
		if raw == nil {
			if pls[i], _, err = tx.Archive(store.Payload{SourceID: sourceID, Format: "set", URL: url}, strings.NewReader(v.token)); err != nil {
				return res, syncerr.E(syncerr.Local, "archive token", err)
			}
		}
		if v.err != nil {
			continue
		}
		ev := eventOf(sourceID, v.key, v.token, v.set, v.rej)
		ev.PayloadID = pls[i].ID
		// The poll answer archived holds the token under its key: the event's row need not
		// hold it again (store.EventToken reads it back).
		ev.TokenArchived = raw != nil && ev.JTI == v.key
		evs = append(evs, ev)
	}
	isNew, err := tx.PutEvents(evs, o.window)
	if err != nil {
		return res, syncerr.E(syncerr.Local, "store event", err)
	}
	var owed []store.PendingAck
	stored := 0 // events of evs gone through
	for i, v := range vs {
		pl := pls[i]
		if v.err != nil {
			res.Deferred++
			if raw == nil {
				if err := tx.SetPayloadStatus(pl.ID, store.PayloadPending, "not verified yet: "+v.err.Error()); err != nil {
					return res, syncerr.E(syncerr.Local, "archive token", err)
				}
			}
			continue
		}
		if raw == nil {
			status, perr := store.PayloadParsed, ""
			if v.rej != nil {
				status, perr = store.PayloadFailed, v.rej.Error()
			}
			if err := tx.SetPayloadStatus(pl.ID, status, perr); err != nil {
				return res, syncerr.E(syncerr.Local, "archive token", err)
			}
		}
		if isNew[stored] {
			if v.rej != nil {
				res.Rejected++
			} else {
				res.New++
			}
		}
		stored++
		if !o.owe {
			continue
		}
		a := store.PendingAck{SourceID: sourceID, Kind: pendingAck, Item: v.key}
		if v.rej != nil {
			a.Kind = pendingSetErr
			a.Detail = map[string]string{"err": v.rej.CodeFor(o.draft), "description": truncate(v.rej.Description, 250)}
		}
		owed = append(owed, a)
	}
	if res.Owed, err = tx.AddPendingAcks(owed); err != nil {
		return res, syncerr.E(syncerr.Local, "store acknowledgements", err)
	}
	crashpoint.Hit(crashpoint.MidTx)
	if err := tx.Commit(); err != nil {
		return res, syncerr.E(syncerr.Local, "store events", err)
	}
	crashpoint.Hit(crashpoint.AfterCommit)
	return res, nil
}

// eventOf builds the stored event of a token. A rejected token is stored under the bank's
// key for it (the polling key, or a hash of the token when there is none) and with no issuer
// (its claims are not trusted), so that it can never take the place of a valid token of the
// same jti; its error says what was wrong.
func eventOf(sourceID int64, key, token string, set secevent.SET, rej *secevent.Rejection) store.Event {
	ev := store.Event{
		SourceID: sourceID, ISS: set.ISS, JTI: set.JTI, AUD: strings.Join(set.AUD, " "),
		Types: set.Types, RID: set.RID, RTY: set.RTY, TXN: set.TXN, TOE: set.TOE, IAT: set.IAT,
		Verified: rej == nil, Token: token,
	}
	if len(set.Subject) > 0 {
		ev.Subject = string(set.Subject)
	}
	if rej != nil {
		ev.Error = rej.Error()
		ev.ISS = ""
		ev.JTI = key
		if ev.JTI == "" {
			sum := sha256.Sum256([]byte(token))
			ev.JTI = "sha256:" + hex.EncodeToString(sum[:16])
		}
	}
	return ev
}
