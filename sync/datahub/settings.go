package datahub

import (
	"time"

	"custody/sync/engine"
	"custody/sync/settings"
)

// Source settings of a datahub source (store.Source.Config keys); Describe lists them with
// their flags of `custody sources add datahub`.
const (
	CfgBaseURL       = "base_url"
	CfgTokenURL      = "token_url"
	CfgClientID      = "client_id"
	CfgScope         = "scope"
	CfgQueues        = "queues" // list; default DefaultQueues
	CfgFormat        = "format" // xml (default) or json
	CfgCA            = "ca"
	CfgSecretExpires = settings.KeySecretExpires
)

var _ engine.Driver = (*Driver)(nil)

// defaultInterval is how often a datahub source peeks its queues unless configured.
const defaultInterval = 15 * time.Minute

// Describe describes the settings of a datahub source.
func (d *Driver) Describe() settings.Kind {
	s := []settings.Setting{
		{Key: CfgBaseURL, Flag: "base-url", Label: "DataHub host", Type: settings.URL, Required: true,
			Hint: "the DataHub host before /v1.0/cim, such as https://api.datahub.example"},
		{Key: CfgTokenURL, Flag: "token-url", Label: "Token URL", Type: settings.URL, Required: true,
			Hint: "OAuth2 token endpoint, such as https://login.microsoftonline.com/…/oauth2/v2.0/token"},
		{Key: CfgClientID, Flag: "client-id", Label: "Client id", Type: settings.Text, Required: true, Hint: "OAuth2 client id"},
		settings.ClientSecret(),
		{Key: CfgScope, Flag: "scope", Label: "Scope", Type: settings.Text, Required: true, Hint: "OAuth2 scope: {app-id}/.default"},
		{Key: CfgQueues, Flag: "queue", Label: "Queues", Type: settings.List,
			Hint: "DataHub queue (default timeseries and aggregations)"},
		{Key: CfgFormat, Flag: "format", Label: "Format", Type: settings.Choice, Choices: []string{"xml", "json"}, Default: "xml",
			Hint: "document format"},
		{Key: CfgCA, Flag: "ca", Label: "Extra CA", Type: settings.File, Hint: "extra CA certificate (PEM) to trust for this source"},
	}
	s = append(s, IdentitySettings()...)
	s = append(s, settings.Common(defaultInterval)...)
	return settings.Kind{Name: "datahub", Title: "DataHub (Energinet)", Settings: s}
}
