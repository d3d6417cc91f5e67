package espi

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Authorization statuses (espi.xsd AuthorizationStatus).
const (
	AuthRevoked = 0
	AuthActive  = 1
	AuthDenied  = 2
)

// ApplicationInformation's dataCustodianApplicationStatus of a registration the custodian
// revoked (1 review, 2 production, 3 on hold, 4 revoked).
const appRevoked = 4

// AuthorizationInfo is what a custodian says about one authorization a third party holds, read
// from an Authorization entry (or an ApplicationInformation entry, for the whole registration).
type AuthorizationInfo struct {
	// Title is the entry's title: the custodian's name for the customer or authorization.
	Title string
	// Self is the entry's self link; AuthorizationURI the Authorization's own URI.
	Self, AuthorizationURI string
	// ResourceURI is what the authorization lets the third party fetch (…/Batch/Bulk/{id},
	// …/Batch/Subscription/{id}); CustomerResourceURI the retail-customer feed, if any.
	ResourceURI, CustomerResourceURI string
	Status                           int
	Scope                            string
	GrantType                        string
	// Start and End are the authorizedPeriod (End zero: open-ended).
	Start, End time.Time
	// Application is set for an ApplicationInformation entry: the registration as a whole.
	Application bool
}

// URI is the authorization's identity: its authorizationURI, else its self link.
func (a AuthorizationInfo) URI() string {
	if a.AuthorizationURI != "" {
		return a.AuthorizationURI
	}
	return a.Self
}

// Ended says whether the authorization no longer lets the third party fetch data at t, and
// in a few words why ("revoked", "denied", "expired").
func (a AuthorizationInfo) Ended(t time.Time) (bool, string) {
	switch {
	case a.Status == AuthRevoked:
		return true, "revoked"
	case a.Status == AuthDenied && !a.Application:
		return true, "denied"
	case a.Status != AuthActive && !a.Application:
		return true, fmt.Sprintf("ended (status %d)", a.Status)
	case !a.End.IsZero() && t.After(a.End):
		return true, "expired"
	}
	return false, ""
}

// BulkID is the bulk id the authorization names (…/Batch/Bulk/{id}), or "".
func (a AuthorizationInfo) BulkID() string { return lastAfter(a.ResourceURI, "Batch/Bulk/") }

// SubscriptionID is the subscription id the authorization names (…/Subscription/{id}), or "".
func (a AuthorizationInfo) SubscriptionID() string { return SubscriptionIDOf(a.ResourceURI) }

// SubscriptionIDOf returns the subscription id of a resourceURI such as
// …/Batch/Subscription/5001 or …/Subscription/5001/UsagePoint/1, or "".
func SubscriptionIDOf(resourceURI string) string { return lastAfter(resourceURI, "Subscription/") }

func lastAfter(uri, marker string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	p := u.EscapedPath()
	i := strings.LastIndex(p, "/"+marker)
	if i < 0 {
		return ""
	}
	rest := p[i+1+len(marker):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	id, err := url.PathUnescape(rest)
	if err != nil {
		return ""
	}
	return id
}

// maxAuthorizations bounds what one answer may list.
const maxAuthorizations = 10000

// ParseAuthorizations reads the Authorization and ApplicationInformation entries of an Atom
// feed or a single entry, matching names by namespace, whatever the prefixes.
func ParseAuthorizations(r io.Reader) ([]AuthorizationInfo, error) {
	d := xml.NewDecoder(r)
	var out []AuthorizationInfo
	var cur *AuthorizationInfo
	var path []string // local names from the entry down
	var text strings.Builder
	inEntry := false
	var start, duration int64
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("authorizations: line %d: %w", lineOf(d), err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			text.Reset()
			switch {
			case t.Name.Space == nsAtom && t.Name.Local == "entry":
				inEntry, path = true, nil
				cur, start, duration = &AuthorizationInfo{Status: -1}, 0, 0
			case inEntry && t.Name.Space == nsAtom && t.Name.Local == "link":
				var rel, href string
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "rel":
						rel = a.Value
					case "href":
						href = a.Value
					}
				}
				if rel == "self" {
					cur.Self = strings.TrimSpace(href)
				}
			case inEntry && t.Name.Space == nsBatchList && t.Name.Local == "ApplicationInformation":
				cur.Application = true
			}
			if inEntry {
				path = append(path, t.Name.Local)
			}
		case xml.CharData:
			if inEntry && text.Len() < 8192 {
				text.Write(t)
			}
		case xml.EndElement:
			if !inEntry {
				continue
			}
			v := strings.TrimSpace(text.String())
			text.Reset()
			parent := ""
			if len(path) >= 2 {
				parent = path[len(path)-2]
			}
			switch name := t.Name.Local; {
			case t.Name.Space == nsAtom && name == "title" && parent == "entry":
				cur.Title = v
			case t.Name.Space != nsBatchList:
			case name == "status" || name == "dataCustodianApplicationStatus":
				if n, err := strconv.Atoi(v); err == nil {
					if name == "dataCustodianApplicationStatus" {
						n = map[bool]int{true: AuthRevoked, false: AuthActive}[n == appRevoked]
					}
					cur.Status = n
				}
			case name == "scope" && cur.Scope == "":
				cur.Scope = v
			case name == "grant_type":
				cur.GrantType = v
			case name == "resourceURI":
				cur.ResourceURI = v
			case name == "authorizationURI":
				cur.AuthorizationURI = v
			case name == "customerResourceURI":
				cur.CustomerResourceURI = v
			case name == "start" && parent == "authorizedPeriod":
				start, _ = strconv.ParseInt(v, 10, 64)
			case name == "duration" && parent == "authorizedPeriod":
				duration, _ = strconv.ParseInt(v, 10, 64)
			}
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			if t.Name.Space == nsAtom && t.Name.Local == "entry" {
				inEntry = false
				if cur.Status >= 0 {
					cur.Start, cur.End = period(start, duration)
					out = append(out, *cur)
					if len(out) > maxAuthorizations {
						return out, fmt.Errorf("authorizations: more than %d entries", maxAuthorizations)
					}
				}
			}
		}
	}
}

// period turns an authorizedPeriod into times; PG&E writes milliseconds, and a duration of 0
// means open-ended.
func period(start, duration int64) (time.Time, time.Time) {
	if start <= 0 {
		return time.Time{}, time.Time{}
	}
	if start > 1e11 { // milliseconds
		start, duration = start/1000, duration/1000
	}
	s := time.Unix(start, 0).UTC()
	if duration <= 0 || duration > 200*365*24*3600 {
		return s, time.Time{}
	}
	return s, s.Add(time.Duration(duration) * time.Second)
}

// FormatAuthorizations describes authorizations for `custody sources test` and the Sources
// view, one line each: who, status, scope and the bulk or subscription id it gives.
func FormatAuthorizations(as []AuthorizationInfo, now time.Time) string {
	var b strings.Builder
	for _, a := range as {
		who := a.Title
		if who == "" {
			who = a.URI()
		}
		status := "active"
		if ended, why := a.Ended(now); ended {
			status = why
		}
		fmt.Fprintf(&b, "\n  %s: %s", who, status)
		if id := a.BulkID(); id != "" {
			fmt.Fprintf(&b, ", bulk id %s", id)
		}
		if id := a.SubscriptionID(); id != "" {
			fmt.Fprintf(&b, ", subscription id %s", id)
		}
		if a.Scope != "" {
			fmt.Fprintf(&b, ", scope %s", a.Scope)
		}
	}
	return b.String()
}
