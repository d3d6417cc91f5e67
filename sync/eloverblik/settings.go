package eloverblik

import (
	"errors"
	"time"

	"custody/store"
	"custody/sync/settings"
)

// defaultInterval is how often an eloverblik source is synced unless configured.
const defaultInterval = time.Hour

// Describe describes an eloverblik source's settings: the refresh token (kept in the keyring;
// its expiry is read from it and kept beside the source for the reminder), the metering points
// (default every linked one), and the base URL and CA for tests and simulators.
func (d *Driver) Describe() settings.Kind {
	s := []settings.Setting{
		{Key: SecretField, Label: "Refresh token", Type: settings.Secret, Required: true, Link: TokenPortal,
			Hint: "made on eloverblik.dk: log in with MitID → Data sharing (Datadeling) → Create token; valid about a year"},
		{Key: CfgMeteringPoints, Flag: "metering-point", Label: "Metering points", Type: settings.List,
			Hint: "18-digit metering point id (default every one linked to the account)",
			Check: func(v string) (string, error) {
				if !gsrnRE.MatchString(v) {
					return v, errors.New("give the 18 digits eloverblik.dk shows, such as 571313174100000012")
				}
				return v, nil
			}},
		{Key: CfgBaseURL, Flag: "base-url", Label: "Base URL", Type: settings.URL, Default: DefaultBaseURL, Advanced: true,
			Hint: "the customer API root"},
		{Key: CfgCA, Flag: "ca", Label: "Extra CA", Type: settings.File, Advanced: true,
			Hint: "extra CA certificate (PEM) to trust for this source"},
	}
	for _, c := range settings.Common(defaultInterval) {
		if c.Key == CfgTokenExpires {
			c.Label = "Refresh token expires"
			c.Hint = "read from the refresh token when it is stored (YYYY-MM-DD)"
		}
		s = append(s, c)
	}
	return settings.Kind{
		Name:     Kind,
		Title:    "Eloverblik (Danish household)",
		Settings: s,
		Check: func(src store.Source) error {
			_, err := ConfigOf(src)
			return err
		},
		CheckSecret: func(_, value string) (map[string]string, error) { return checkToken(value, time.Now()) },
	}
}

// checkToken checks a refresh token when it is entered: a JWT that has not expired. It returns
// the day it expires, to be kept beside the source so that the user is reminded a month ahead.
func checkToken(value string, now time.Time) (map[string]string, error) {
	exp, err := TokenExpiry(value)
	if err != nil {
		return nil, err
	}
	if !now.Before(exp) {
		return nil, errors.New(ExpiryWarningAt(exp, now))
	}
	return map[string]string{CfgTokenExpires: exp.In(time.Local).Format(time.DateOnly)}, nil
}
