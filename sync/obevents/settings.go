package obevents

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/notify"
	"custody/sync/settings"
)

// notifyPath is where an obevents source's listener hears the bank's event notifications.
const notifyPath = "/" + notify.NamePlaceholder + "/event-notifications"

func init() { notify.RegisterPath("obevents", notifyPath) }

// Source settings of an obevents source (store.Source.Config keys); Describe lists them with
// their flags of `custody sources add obevents`.
const (
	CfgBaseURL      = "base_url"
	CfgTokenURL     = "token_url"
	CfgClientID     = "client_id"
	CfgJWKSURL      = "jwks_url"
	CfgIssuer       = "issuer"
	CfgAudience     = "audience"
	CfgScope        = "scope"
	CfgCert         = "cert"
	CfgKey          = "key"
	CfgCA           = "ca"
	CfgMaxEvents    = "max_events"   // maxEvents per poll, default 10
	CfgAlgs         = "algs"         // allowed algorithms, comma separated; default PS256,ES256
	CfgErrorCodes   = "error_codes"  // "draft" to send draft-ietf-secevent-http-push-03 codes
	CfgOrgID        = "org_id"       // the bank's OB organisation id (http://openbanking.org.uk/iss)
	CfgFollow       = "follow"       // "true" to GET each new event's resource (rlk)
	CfgSubscription = "subscription" // "none" to skip the event subscription (polling-only banks)
	CfgCallbackURL  = "callback_url" // a public .../event-notifications URL for real-time push
	CfgEventTypes   = "event_types"  // subscription EventTypes (JSON list); default all
	CfgJTIWindow    = "jti_window"   // how close two uses of a jti must be to be one event; default 720h
)

// Algs are the signing algorithms a source may accept; RS256 only for banks that still use it.
var Algs = []string{"PS256", "ES256", "RS256"}

var _ engine.Driver = (*Driver)(nil)

// defaultInterval is how often an obevents source polls for events unless configured.
const defaultInterval = 5 * time.Minute

// Describe describes the settings of an obevents source.
func (d *Driver) Describe() settings.Kind {
	s := []settings.Setting{
		{Key: CfgBaseURL, Flag: "base-url", Label: "Event API root", Type: settings.URL, Required: true,
			Hint: "the bank's event API root, such as https://bank.example/open-banking/v3.1"},
		{Key: CfgTokenURL, Flag: "token-url", Label: "Token URL", Type: settings.URL, Required: true, Hint: "OAuth2 token endpoint"},
		{Key: CfgClientID, Flag: "client-id", Label: "Client id", Type: settings.Text, Required: true, Hint: "OAuth2 client id"},
		tokenAuthSetting(),
		clientSecretSetting(),
		{Key: CfgJWKSURL, Flag: "jwks-url", Label: "Bank JWKS URL", Type: settings.URL, Required: true, Hint: "the bank's JWKS URL"},
		{Key: CfgIssuer, Flag: "issuer", Label: "Token issuer", Type: settings.Text, Required: true, Hint: "expected event token issuer"},
		{Key: CfgAudience, Flag: "audience", Label: "Audience", Type: settings.Text, Required: true, Hint: "expected event token audience"},
		{Key: CfgScope, Flag: "scope", Label: "Scope", Type: settings.Text, Default: "eventpolling", Hint: "OAuth2 scope"},
		{Key: CfgCert, Flag: "cert", Label: "Client certificate", Type: settings.File, Hint: "client certificate (PEM) for mutual TLS"},
		{Key: CfgKey, Flag: "key", Label: "Client key", Type: settings.File, Hint: "client key (PEM) for mutual TLS; keep it readable by you only"},
		{Key: CfgCA, Flag: "ca", Label: "Directory CA", Type: settings.File, Hint: "the Open Banking directory CA (PEM), which no OS trusts"},
		{Key: CfgOrgID, Flag: "org-id", Label: "Bank organisation id", Type: settings.Text, Advanced: true,
			Hint: "the bank's Open Banking organisation id, checked in each event token", Check: checkOrgID},
		{Key: CfgAlgs, Flag: "algs", Label: "Signing algorithms", Type: settings.Text, Advanced: true,
			Hint: "signing algorithms to accept, comma separated: PS256, ES256, RS256 (default PS256,ES256)", Check: checkAlgs},
		{Key: CfgErrorCodes, Flag: "error-codes", Label: "Error codes", Type: settings.Choice, Advanced: true,
			Choices: []string{"rfc", "draft"}, Default: "rfc",
			Hint: "error codes reported for rejected events: rfc (RFC 8935) or draft (draft push-03)"},
		{Key: CfgMaxEvents, Flag: "max-events", Label: "Events per poll", Type: settings.Text, Advanced: true,
			Hint: "most events to ask for in each poll (default 10)", Check: checkMaxEvents},
		{Key: CfgEventTypes, Flag: "event-types", Label: "Event types", Type: settings.List, Advanced: true,
			Hint: "event type of the subscription, such as UK.OBIE.Resource-Update (default all)", Check: checkEventType},
		{Key: CfgCallbackURL, Flag: "callback-url", Label: "Callback URL", Type: settings.URL, Advanced: true,
			Hint: "public https URL ending in /event-notifications for real-time pushes", Check: checkCallbackURL},
		{Key: CfgSubscription, Flag: "no-subscription", Label: "Polling only", Type: settings.Bool, On: "none", Advanced: true,
			Hint: "never create or update an event subscription, for polling-only banks"},
		{Key: CfgFollow, Flag: "follow", Label: "Fetch event resources", Type: settings.Bool, Advanced: true,
			Hint: "fetch the resource each new event points to"},
		{Key: CfgJTIWindow, Flag: "jti-window", Label: "Event id window", Type: settings.Duration, Advanced: true,
			Hint: "how close two uses of an event id must be to count as one event, such as 720h (default 720h)", Check: checkJTIWindow},
	}
	s = append(s, fapiSettings()...)
	s = append(s, notify.Settings(notifyPath)...)
	s = append(s, settings.Common(defaultInterval)...)
	return settings.Kind{Name: "obevents", Title: "Open Banking events (bank)", Settings: s,
		Check: checkSource, CheckSecrets: checkSigningKey}
}

func checkOrgID(v string) (string, error) {
	if len(v) > 64 || strings.ContainsFunc(v, unicode.IsSpace) {
		return v, errors.New("give the bank's Open Banking organisation id, such as 0015800001041RHAAY")
	}
	return v, nil
}

// checkAlgs accepts known safe algorithms only and stores each once.
func checkAlgs(v string) (string, error) {
	var algs []string
	for a := range strings.SplitSeq(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !slices.Contains(Algs, a) {
			return v, fmt.Errorf("unknown or unsafe algorithm %q: say one or more of %s, comma separated", a, strings.Join(Algs, ", "))
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return v, fmt.Errorf("names no algorithm: say one or more of %s, comma separated", strings.Join(Algs, ", "))
	}
	return strings.Join(algs, ","), nil
}

func checkMaxEvents(v string) (string, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return v, errors.New("give a whole number of at least 1, such as 10")
	}
	return strconv.Itoa(n), nil
}

func checkEventType(t string) (string, error) {
	if len(t) > 200 || strings.ContainsFunc(t, unicode.IsSpace) {
		return t, errors.New("give event types such as UK.OBIE.Resource-Update")
	}
	return t, nil
}

func checkCallbackURL(v string) (string, error) {
	if u, err := url.Parse(v); err != nil || !strings.HasSuffix(u.Path, "/event-notifications") {
		return v, errors.New("callback URLs of Open Banking end in /event-notifications")
	}
	return v, nil
}

func checkJTIWindow(v string) (string, error) {
	if d, err := time.ParseDuration(v); err != nil || d == 0 {
		return v, errors.New("give a duration such as 720h (negative: an event id is never reused)")
	}
	return v, nil
}

// checkSource checks the rules between an obevents source's settings.
func checkSource(src store.Source) error {
	c := src.Config
	if (c[CfgCert] == "") != (c[CfgKey] == "") {
		return errors.New("--cert and --key go together")
	}
	if c[CfgCallbackURL] != "" && c[CfgSubscription] == "none" {
		return errors.New("--callback-url goes in the event subscription, which --no-subscription turns off: give one or the other")
	}
	if len(src.List(CfgEventTypes)) > 0 && c[CfgSubscription] == "none" {
		return errors.New("--event-types go in the event subscription, which --no-subscription turns off: give one or the other")
	}
	if err := checkFAPI(src); err != nil {
		return err
	}
	return notify.Check(src)
}
