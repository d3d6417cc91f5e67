package espi

import (
	"errors"
	"time"

	"custody/store"
	"custody/sync/notify"
	"custody/sync/settings"
)

// notifyPath is where a greenbutton source's listener hears BatchList notifications.
const notifyPath = "/espi/notify/" + notify.NamePlaceholder

func init() { notify.RegisterPath(Kind, notifyPath) }

// Source settings a greenbutton source uses (store.Source.Config keys); Describe lists them
// with their flags of `custody sources add greenbutton`.
const (
	CfgBaseURL         = "base_url"
	CfgTokenURL        = "token_url"
	CfgClientID        = "client_id"
	CfgBulkIDs         = "bulk_ids"         // list
	CfgSubscriptionIDs = "subscription_ids" // list
	CfgCert            = "cert"
	CfgKey             = "key"
	CfgCA              = "ca"
	CfgScope           = "scope"
)

// defaultInterval is how often a greenbutton source is synced unless configured: utilities
// publish a day's readings about once a day.
const defaultInterval = 6 * time.Hour

// Describe describes the settings of a greenbutton source.
func (d *Driver) Describe() settings.Kind {
	s := []settings.Setting{
		{Key: CfgBaseURL, Flag: "base-url", Label: "API root", Type: settings.URL, Required: true,
			Hint: "the ESPI resource root, such as https://utility.example/DataCustodian/espi/1_1/resource"},
		{Key: CfgTokenURL, Flag: "token-url", Label: "Token URL", Type: settings.URL, Required: true,
			Hint: "OAuth2 token endpoint"},
		{Key: CfgClientID, Flag: "client-id", Label: "Client id", Type: settings.Text, Required: true,
			Hint: "OAuth2 client id"},
		settings.ClientSecret(),
		{Key: CfgBulkIDs, Flag: "bulk-id", Label: "Bulk ids", Type: settings.List, Hint: "ESPI bulk id"},
		{Key: CfgSubscriptionIDs, Flag: "subscription-id", Label: "Subscription ids", Type: settings.List, Hint: "ESPI subscription id"},
		{Key: CfgCert, Flag: "cert", Label: "Client certificate", Type: settings.File, Hint: "client certificate (PEM) for mutual TLS"},
		{Key: CfgKey, Flag: "key", Label: "Client key", Type: settings.File, Hint: "client key (PEM) for mutual TLS; keep it readable by you only"},
		{Key: CfgCA, Flag: "ca", Label: "Extra CA", Type: settings.File, Hint: "extra CA certificate (PEM) to trust for this source"},
		{Key: CfgScope, Flag: "scope", Label: "Scope", Type: settings.Text, Advanced: true, Hint: "OAuth2 scope, when the utility asks for one"},
	}
	s = append(s, CustodianSettings()...)
	s = append(s, notify.Settings(notifyPath)...)
	s = append(s, settings.Common(defaultInterval)...)
	return settings.Kind{Name: Kind, Title: "Green Button (utility)", Settings: s, Check: checkSource}
}

// checkSource checks the rules between a greenbutton source's settings.
func checkSource(src store.Source) error {
	if (src.Config[CfgCert] == "") != (src.Config[CfgKey] == "") {
		return errors.New("--cert and --key go together")
	}
	if err := checkCustodianSettings(src.Config); err != nil {
		return err
	}
	return notify.Check(src)
}
