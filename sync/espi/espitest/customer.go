package espitest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"custody/sync/simtls"
)

// AuthorizePath is the path of the simulator's authorization (consent) endpoint. Like PG&E's
// consent pages it is served on its own origin without client certificates: only the
// custodian's API wants mutual TLS, the customer's browser has no client certificate.
const AuthorizePath = "/datacustodian/oauth/v2/authorize"

// CustomerAuthorizationID is the id of the demo customer's Authorization resource.
const CustomerAuthorizationID = "2"

// code is an authorization code waiting to be exchanged.
type code struct {
	challenge, redirect, scope string
	expires                    time.Time
}

// AuthorizeRequest is one visit to the authorization endpoint, for tests.
type AuthorizeRequest struct {
	Query url.Values
	// Status is the answer: 302 back to the redirect URI, or 400 for a bad request.
	Status int
}

// startConsent starts the consent origin (TLS, no client certificate) of a Connect My Data
// simulator.
func (s *Server) startConsent(pki *simtls.PKI, host string) error {
	tc, err := pki.ServerTLS(false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return fmt.Errorf("espitest: consent listener: %w", err)
	}
	s.consentURL = "https://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AuthorizePath, s.serveAuthorize)
	s.consent = &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.consent.ServeTLS(ln, "", "")
	}()
	return nil
}

// AuthorizeURL is the authorization endpoint, the value of a source's --authorize-url; empty
// unless Options.ConnectMyData.
func (s *Server) AuthorizeURL() string {
	if s.consentURL == "" {
		return ""
	}
	return s.consentURL + AuthorizePath
}

// AuthorizeRequests returns the visits to the authorization endpoint so far.
func (s *Server) AuthorizeRequests() []AuthorizeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuthorizeRequest(nil), s.authorizes...)
}

// serveAuthorize is the customer's consent: the simulated customer signs in and approves at
// once (or denies, with Options.Deny), and the browser is sent back to the redirect URI.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := http.StatusFound
	defer func() {
		s.mu.Lock()
		s.authorizes = append(s.authorizes, AuthorizeRequest{Query: q, Status: status})
		s.mu.Unlock()
	}()
	bad := func(msg string) {
		status = http.StatusBadRequest
		http.Error(w, msg, status)
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != s.opts.ClientID:
		bad("unknown client_id")
		return
	case err != nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" || redirect.Port() == "" || redirect.Path != "/callback":
		// The registered redirect URI is the loopback one of RFC 8252, any port.
		bad("redirect_uri is not the registered http://127.0.0.1:PORT/callback")
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		u := *redirect
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), status)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	case q.Get("state") == "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"state is required"}})
		return
	case strings.TrimSpace(q.Get("scope")) == "":
		back(url.Values{"error": {"invalid_scope"}})
		return
	case s.opts.Deny:
		back(url.Values{"error": {"access_denied"}, "error_description": {"The customer declined"}})
		return
	}
	c := "sim-code-" + randHex(16)
	s.mu.Lock()
	s.codes[c] = code{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), scope: q.Get("scope"),
		expires: s.opts.Now().Add(10 * time.Minute)}
	s.mu.Unlock()
	back(url.Values{"code": {c}})
}

// tokenFail answers a token request with an OAuth error.
func (s *Server) tokenFail(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	s.record(r, false, status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
}

// serveCustomerToken answers the authorization_code and refresh_token grants. The client
// has authenticated with HTTP Basic already.
func (s *Server) serveCustomerToken(w http.ResponseWriter, r *http.Request, grant string) {
	f := r.PostForm
	var scope string
	s.mu.Lock()
	switch grant {
	case "authorization_code":
		c, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code")) // a code is good once
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case !ok || s.opts.Now().After(c.expires):
			s.mu.Unlock()
			s.tokenFail(w, r, http.StatusBadRequest, "invalid_grant", "unknown or expired authorization code")
			return
		case f.Get("redirect_uri") != c.redirect:
			s.mu.Unlock()
			s.tokenFail(w, r, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
			return
		case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1:
			s.mu.Unlock()
			s.tokenFail(w, r, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
			return
		}
		scope = c.scope
		s.customerRevoked = false
	case "refresh_token":
		rt := f.Get("refresh_token")
		sc, ok := s.refresh[rt]
		if !ok || s.customerRevoked {
			s.mu.Unlock()
			s.tokenFail(w, r, http.StatusBadRequest, "invalid_grant", "refresh token revoked, expired or already used")
			return
		}
		scope = sc
		s.refreshes++
		if !s.opts.RotateRefresh {
			access := s.issueCustomerLocked()
			s.mu.Unlock()
			s.customerTokenAnswer(w, r, access, "", scope)
			return
		}
		delete(s.refresh, rt) // rotated: the old refresh token is spent
	}
	access := s.issueCustomerLocked()
	refresh := "sim-rt-" + randHex(20)
	s.refresh[refresh] = scope
	s.issuedRefresh = append(s.issuedRefresh, refresh)
	s.mu.Unlock()
	s.customerTokenAnswer(w, r, access, refresh, scope)
}

func (s *Server) issueCustomerLocked() string {
	access := "sim-cat-" + randHex(20)
	s.customer[access] = s.opts.Now().Add(s.opts.TokenLifetime)
	s.issuedCustomer = append(s.issuedCustomer, access)
	return access
}

func (s *Server) customerTokenAnswer(w http.ResponseWriter, r *http.Request, access, refresh, scope string) {
	s.record(r, false, http.StatusOK)
	ans := map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(s.opts.TokenLifetime / time.Second),
		"scope": scope, "resourceURI": s.BaseURL() + "/Batch/Subscription/" + s.opts.SubscriptionID,
		"authorizationURI":    s.BaseURL() + "/Authorization/" + CustomerAuthorizationID,
		"customerResourceURI": s.BaseURL() + "/Batch/RetailCustomer/" + s.opts.SubscriptionID,
	}
	if refresh != "" {
		ans["refresh_token"] = refresh
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(ans)
}

// validCustomer says whether h carries a customer access token that is current.
func (s *Server) validCustomer(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.customer[tok]
	return ok && !s.customerRevoked && s.opts.Now().Before(exp)
}

// ExpireCustomerToken makes every customer access token issued so far expire at once, as a
// custodian's early expiry would: the next call answers 401.
func (s *Server) ExpireCustomerToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.customer)
}

// Refreshes counts the refresh-token grants answered.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// RefreshTokens returns every refresh token issued so far, for tests that check none was
// stored or logged.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issuedRefresh...)
}

// RevokeCustomer is the customer revoking Custody's access at the utility: the refresh and
// access tokens stop working, the customer's Authorization turns status 0 (revoked), and,
// with notify and a notification URL configured, a BatchList naming that Authorization is
// POSTed.
func (s *Server) RevokeCustomer(ctx context.Context, notify bool) error {
	s.mu.Lock()
	s.customerRevoked = true
	clear(s.refresh)
	clear(s.customer)
	notify = notify && s.opts.NotifyURL != "" && s.opts.NotifyClient != nil
	s.mu.Unlock()
	if !notify {
		return nil
	}
	return s.Notify(ctx, s.BaseURL()+"/Authorization/"+CustomerAuthorizationID)
}

// authorizationEntries renders the Authorizations the third party holds: its own bulk one
// (client credentials) and, for Connect My Data, the customer's.
func (s *Server) authorizationEntries(fw *feedWriter, only string) {
	entry := func(id, title, grant, scope, resource string, status int) {
		if only != "" && only != id {
			return
		}
		self := s.BaseURL() + "/Authorization/" + id
		fw.entry(self, s.BaseURL()+"/Authorization", nil, title, 1735718400, fmt.Sprintf(
			`<espi:Authorization><espi:authorizedPeriod><espi:duration>0</espi:duration><espi:start>1735718400000</espi:start></espi:authorizedPeriod><espi:status>%d</espi:status><espi:grant_type>%s</espi:grant_type><espi:scope>%s</espi:scope><espi:token_type>Bearer</espi:token_type><espi:resourceURI>%s</espi:resourceURI><espi:authorizationURI>%s</espi:authorizationURI></espi:Authorization>`,
			status, grant, xmlEscape(scope), xmlEscape(resource), xmlEscape(self)))
	}
	entry("1", "Third party bulk authorization", "client_credentials", "FB=35;BR="+s.opts.BulkID, s.BaseURL()+"/Batch/Bulk/"+s.opts.BulkID, 1)
	if s.opts.ConnectMyData {
		s.mu.Lock()
		status := 1
		if s.customerRevoked {
			status = 0
		}
		s.mu.Unlock()
		entry(CustomerAuthorizationID, "Customer 5001 (demo household)", "authorization_code", "FB=1_3_4_5_13_14_15_39",
			s.BaseURL()+"/Batch/Subscription/"+s.opts.SubscriptionID, status)
	}
}

// errNoConsent is returned by Authorize for a simulator without Connect My Data.
var errNoConsent = errors.New("espitest: the simulator was started without ConnectMyData")

// Authorize plays the customer's browser: it opens authorizeURL (as `custody sources connect`
// printed it) with client, follows the custodian's redirect back to the loopback redirect URI,
// and returns the page the browser shows at the end.
func Authorize(ctx context.Context, client *http.Client, authorizeURL string) (string, error) {
	if authorizeURL == "" {
		return "", errNoConsent
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return "", fmt.Errorf("espitest: authorize: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("espitest: authorize: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("espitest: authorize: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}
