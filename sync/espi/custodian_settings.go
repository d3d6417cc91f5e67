package espi

import (
	"fmt"
	"strconv"
	"time"

	"custody/sync/settings"
)

// Settings of a greenbutton source for custodians as they really behave (store.Source.Config
// keys): Connect My Data and asynchronous answers.
const (
	// CfgAuthorizeURL is the custodian's OAuth authorize endpoint; its presence makes the
	// source's subscriptions fetched with the customer's own token (Connect My Data).
	CfgAuthorizeURL = "authorize_url"
	// CfgRedirectPort is the loopback port of the redirect URI (empty: a free one).
	CfgRedirectPort = "redirect_port"
	// CfgAsyncTimeout is how long a request the custodian answered 202 to stays outstanding
	// (a Go duration; default DefaultAsyncTimeout).
	CfgAsyncTimeout = "async_timeout"
	// Recorded by `custody sources connect` from the token answer, not set by the user.
	CfgResourceURI      = "resource_uri"
	CfgAuthorizationURI = "authorization_uri"
	CfgGrantedScope     = "granted_scope"
)

// Keyring fields of a connected (Connect My Data) source: the customer's tokens, written by
// `custody sources connect` and by a refresh (custodians may rotate the refresh token).
const (
	AccessTokenField  = "access_token"
	RefreshTokenField = "refresh_token"
)

// CustodianSettings describes the Connect My Data and asynchronous-custodian settings, for
// the greenbutton kind's Describe.
func CustodianSettings() []settings.Setting {
	return []settings.Setting{
		{Key: CfgAuthorizeURL, Flag: "authorize-url", Label: "Authorize URL", Type: settings.URL,
			Hint: "Connect My Data: the utility's OAuth authorize endpoint"},
		{Key: CfgRedirectPort, Flag: "redirect-port", Label: "Redirect port", Type: settings.Text, Advanced: true,
			Hint: "port of the redirect URI http://127.0.0.1:PORT/callback", Check: checkPort},
		{Key: CfgAsyncTimeout, Flag: "async-timeout", Label: "Async timeout", Type: settings.Duration, Advanced: true,
			Default: "26h", Hint: "ask again when no notification came for a 202 by then",
			Check: checkAsyncTimeout},
	}
}

func checkPort(v string) (string, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return v, fmt.Errorf("%q: give a port number from 1 to 65535", v)
	}
	return strconv.Itoa(n), nil
}

func checkAsyncTimeout(v string) (string, error) {
	if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
		return v, fmt.Errorf("%q: give a duration of at least 1m, such as 26h", v)
	}
	return v, nil
}

// checkCustodianSettings checks the rules between the Connect My Data settings.
func checkCustodianSettings(src map[string]string) error {
	if src[CfgRedirectPort] != "" && src[CfgAuthorizeURL] == "" {
		return fmt.Errorf("--redirect-port is the port of the customer's authorisation: it goes with --authorize-url")
	}
	return nil
}
