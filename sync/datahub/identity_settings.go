package datahub

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"custody/store"
	"custody/sync/settings"
)

// Source settings of a market actor's identity and DataHub's routes. They are listed, with
// their flags and checks, by [IdentitySettings], which Describe includes.
const (
	// SettingSenderGLN is the actor's own GLN (13 digits) or EIC (16 characters): the sender
	// of every request document. One credential is one actor in one market role.
	SettingSenderGLN = "sender_gln"
	// SettingMarketRole is the actor's market role (DDQ, DDM, MDR, DDK, ...).
	SettingMarketRole = "market_role"
	// SettingRouteValidated, SettingRouteAggregated and SettingRouteWholesale are the routes
	// under /v1.0/cim/ that RSM-015, RSM-016 and RSM-017 are POSTed to.
	SettingRouteValidated  = "route_validated"
	SettingRouteAggregated = "route_aggregated"
	SettingRouteWholesale  = "route_wholesale"
	// SettingHealthPath is the path of the health endpoint `sources test` calls.
	SettingHealthPath = "health_path"
)

// Default routes. RSM-015's is the name DataHub's backend serves (Energinet's own subsystem
// tests use it); Energinet's interface document names requestvalidatedmeasuredata instead,
// which a request tries when the default answers 404 (reference datahub3.md §2, VERIFY).
const (
	DefaultRouteValidated    = "requestvalidatedmeasurements"
	AlternateRouteValidated  = "requestvalidatedmeasuredata"
	DefaultRouteAggregated   = "requestaggregatedmeasuredata"
	DefaultRouteWholesale    = "requestwholesalesettlement"
	DefaultHealthPath        = "/ping"
	marketRolesThatRequest   = "DDQ DDM MDR DDK DDX EZ STS DEL"
	maxRouteLength           = 64
	settingsHintRouteVERIFY  = "VERIFY on preprod which one API Management exposes"
	settingsHintSenderFormat = "13 digits (GLN) or 16 characters (EIC)"
)

// MarketRoles are the roles an actor requests data in.
var MarketRoles = strings.Fields(marketRolesThatRequest)

var routeRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

func checkRoute(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > maxRouteLength || !routeRE.MatchString(v) {
		return fmt.Errorf("route %q: give the document route under /v1.0/cim/, such as %s (lower-case letters and digits)", v, DefaultRouteAggregated)
	}
	return nil
}

func checkSender(v string) error {
	if v != "" && !glnRE.MatchString(v) {
		return fmt.Errorf("sender %q: give your GLN (%s)", v, settingsHintSenderFormat)
	}
	return nil
}

func checkRole(v string) error {
	if v != "" && !slices.Contains(MarketRoles, v) {
		return fmt.Errorf("market role %q: say one of %s", v, strings.Join(MarketRoles, ", "))
	}
	return nil
}

func checkHealthPath(v string) error {
	if v != "" && (!strings.HasPrefix(v, "/") || strings.Contains(v, "//") || strings.ContainsAny(v, "?#\\ ") || len(v) > 128) {
		return fmt.Errorf("health path %q: give a path on the base URL's host, such as %s", v, DefaultHealthPath)
	}
	return nil
}

// checked adapts a check to the seam's form: the value, kept as given, or why it is refused.
func checked(check func(string) error) func(string) (string, error) {
	return func(v string) (string, error) { return v, check(v) }
}

// IdentitySettings describes the identity and route settings of a datahub source.
func IdentitySettings() []settings.Setting {
	return []settings.Setting{
		{Key: SettingSenderGLN, Flag: "sender-gln", Label: "Your GLN", Hint: "the sender of your requests: " + settingsHintSenderFormat,
			Type: settings.Text, Check: checked(checkSender)},
		{Key: SettingMarketRole, Flag: "market-role", Label: "Market role", Hint: "the role this credential acts in",
			Type: settings.Choice, Choices: MarketRoles, Check: checked(checkRole)},
		{Key: SettingRouteValidated, Flag: "route-validated", Label: "RSM-015 route", Advanced: true, Type: settings.Text,
			Default: DefaultRouteValidated, Hint: "validated measure data requests; the interface document says " + AlternateRouteValidated + " (" + settingsHintRouteVERIFY + ")",
			Check: checked(checkRoute)},
		{Key: SettingRouteAggregated, Flag: "route-aggregated", Label: "RSM-016 route", Advanced: true, Type: settings.Text,
			Default: DefaultRouteAggregated, Hint: "aggregated measure data requests", Check: checked(checkRoute)},
		{Key: SettingRouteWholesale, Flag: "route-wholesale", Label: "RSM-017 route", Advanced: true, Type: settings.Text,
			Default: DefaultRouteWholesale, Hint: "wholesale settlement requests", Check: checked(checkRoute)},
		{Key: SettingHealthPath, Flag: "health-path", Label: "Health endpoint", Advanced: true, Type: settings.Text,
			Default: DefaultHealthPath, Hint: "what `sources test` calls with the token", Check: checked(checkHealthPath)},
	}
}

// CheckIdentity checks the identity and route settings of a source.
func CheckIdentity(src store.Source) error {
	for _, s := range IdentitySettings() {
		if _, err := s.Check(strings.TrimSpace(src.Config[s.Key])); err != nil {
			return err
		}
	}
	return nil
}

// Identity is a source's actor and routes, defaults filled in.
type Identity struct {
	Sender, Role string
	Routes       map[string]string // request kind → route under /v1.0/cim/
	HealthPath   string
}

// identityOf reads a source's identity and routes.
func identityOf(src store.Source) (Identity, error) {
	if err := CheckIdentity(src); err != nil {
		return Identity{}, err
	}
	get := func(key, def string) string {
		if v := strings.TrimSpace(src.Config[key]); v != "" {
			return v
		}
		return def
	}
	return Identity{
		Sender: get(SettingSenderGLN, ""),
		Role:   get(SettingMarketRole, ""),
		Routes: map[string]string{
			RequestValidated:  get(SettingRouteValidated, DefaultRouteValidated),
			RequestAggregated: get(SettingRouteAggregated, DefaultRouteAggregated),
			RequestWholesale:  get(SettingRouteWholesale, DefaultRouteWholesale),
		},
		HealthPath: get(SettingHealthPath, DefaultHealthPath),
	}, nil
}
