package datahub

import (
	"context"
	"errors"
	"fmt"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Sent is what became of a request document.
type Sent struct {
	// Record is the request as recorded, with its outcome.
	Record store.DataHubRequest
	// Route is where it was POSTed, under /v1.0/cim/.
	Route string
	// Correlation is the CorrelationId of the 202, when DataHub sent one.
	Correlation string
	Status      int
	// Resent is set when the first POST's answer was lost and the same document was sent
	// again; AlreadyArrived when that second POST got 00101 (id already used): the first had
	// arrived, and the request counts as sent.
	Resent, AlreadyArrived bool
	// RouteFallback is set when the RSM-015 default route answered 404 and the interface
	// document's name (AlternateRouteValidated) took the request: the source should say so.
	RouteFallback bool
}

// Queue is the queue the answer to the request arrives in.
func (s Sent) Queue() string {
	if s.Record.Kind == RequestValidated {
		return "timeseries"
	}
	return "aggregations"
}

// SendRequest is the one way a request reaches DataHub, for `custody request` and the
// Messages form alike: it fills the sender and role from the source's identity when the
// request names none, builds the document in format ("" for the source's), records it before
// it is sent (so an answer can be linked even if the program stops right after the POST),
// POSTs it to the source's route, sends the very same document (same ids) once more when the
// answer was lost to the network or a server error — a 00101 (id already used) on that second
// POST means the first had arrived and counts as sent — and records the outcome. detail is
// kept with the record (period, metering point, grid area, ...).
func (d *Driver) SendRequest(ctx context.Context, job *engine.Job, req *Request, format string, detail map[string]string) (Sent, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the request stay out of what it records
	var out Sent
	c, cfg, err := d.Client(job)
	if err != nil {
		return out, err
	}
	if req.Sender == "" {
		req.Sender = cfg.Identity.Sender
	}
	if req.SenderRole == "" {
		req.SenderRole = cfg.Identity.Role
	}
	if format == "" {
		format = cfg.Format
	}
	doc, err := req.Build(format)
	if err != nil {
		hint := ""
		if cfg.Identity.Sender == "" || cfg.Identity.Role == "" {
			hint = "Set the source's identity once (sources add ... --sender-gln GLN --market-role ROLE) or give --sender and --role."
		}
		return out, &syncerr.Error{Kind: syncerr.Config, Op: "build request", Err: err, Hint: hint}
	}
	c.Format = format
	route := cfg.Identity.Routes[req.Kind]
	log := job.Logger
	if log == nil {
		log = noLogger
	}
	rec := store.DataHubRequest{SourceID: job.Source.ID, MessageID: req.MessageID, SeriesID: req.SeriesID, Kind: req.Kind, Format: format,
		Detail: map[string]string{"root": req.Root(), "route": route, "sender": req.Sender, "role": req.SenderRole, "process": req.ProcessType}}
	for k, v := range detail {
		if v != "" {
			rec.Detail[k] = v
		}
	}
	if err := job.Store.AddDataHubRequest(ctx, &rec); err != nil {
		return out, syncerr.E(syncerr.Local, "record request", err)
	}
	out.Record, out.Route = rec, route
	corr, status, err := c.Send(ctx, route, doc)
	if req.Kind == RequestValidated && route == DefaultRouteValidated && isNotFound(err) {
		// Which of the two names API Management serves is not settled (reference §2,
		// VERIFY); a 404 means nothing was taken, so the other name is safe to try.
		log.Warn("request route not found; trying the interface document's name", "op", "request", "url-path", AlternateRouteValidated)
		route = AlternateRouteValidated
		out.Route, out.RouteFallback = route, true
		if serr := job.Store.SetDataHubRequestRoute(ctx, rec.ID, route); serr != nil {
			return out, syncerr.E(syncerr.Local, "record request", serr)
		}
		out.Record.Detail["route"] = route
		corr, status, err = c.Send(ctx, route, doc)
	}
	if k := syncerr.KindOf(err); k == syncerr.Network || k == syncerr.Server {
		log.Warn("request failed; sending it again", "op", "request", "err", err)
		out.Resent = true
		corr, status, err = c.Send(ctx, route, doc)
		var apiErr *APIError
		if err != nil && errors.As(err, &apiErr) && apiErr.Code == "00101" {
			err, out.AlreadyArrived = nil, true
		}
	}
	out.Correlation, out.Status = corr, status
	if err != nil {
		text := err.Error()
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			text = apiErr.Error() // the error object's code and message, without our own wrapping
		}
		if serr := job.Store.SetDataHubRequestOutcome(context.WithoutCancel(ctx), rec.ID, store.RequestRefused, status, corr, text); serr != nil {
			log.Warn("record request outcome", "op", "request", "err", serr)
		}
		out.Record.Status, out.Record.Error, out.Record.HTTPStatus = store.RequestRefused, text, status
		return out, err
	}
	if err := job.Store.SetDataHubRequestOutcome(ctx, rec.ID, store.RequestAccepted, status, corr, ""); err != nil {
		return out, syncerr.E(syncerr.Local, "record request", fmt.Errorf("request %s was accepted: %w", req.MessageID, err))
	}
	out.Record.Status, out.Record.HTTPStatus, out.Record.Correlation = store.RequestAccepted, status, corr
	return out, nil
}

func isNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == 404
}
