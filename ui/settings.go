package ui

import (
	"image/color"
	"time"
	_ "time/tzdata" // meterLocation resolves IANA zones on machines without zoneinfo (Windows)

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Preference keys. Secrets never go here: Preferences is a plain JSON file.
const (
	prefTheme         = "display.theme"         // system, light, dark
	prefEnergyUnit    = "display.energy_unit"   // kWh or Wh
	prefTimeZone      = "display.time_zone"     // meter, local, utc
	prefStartMin      = "startup.minimised"     // bool
	prefCloseToTray   = "startup.close_to_tray" // bool
	prefNotify        = "notify.enabled"        // bool
	prefWindowW       = "window.width"
	prefWindowH       = "window.height"
	prefLastView      = "window.view"
	prefUsageRange    = "usage.range"
	prefUsageRes      = "usage.resolution"
	prefUsageMeter    = "usage.meter"
	prefUsageCompare  = "usage.compare"
	prefUsageMeters   = "usage.meters"   // one meter, or the listed meters summed or side by side
	prefUsageSeries   = "usage.series"   // + "." + meter key: the keys of its checked series
	prefDataHubSender = "datahub.sender" // the user's GLN: not a secret, asked for once
	prefDataHubRole   = "datahub.role"
)

// Theme choices.
const (
	ThemeSystem = "System"
	ThemeLight  = "Light"
	ThemeDark   = "Dark"
)

// Time zone choices for showing times.
const (
	ZoneMeter = "Meter's local time"
	ZoneLocal = "This computer's time"
	ZoneUTC   = "UTC"
)

// Settings are the user's display, startup and notification choices, kept in Fyne
// Preferences.
type Settings struct {
	p fyne.Preferences
}

// NewSettings reads settings from p.
func NewSettings(p fyne.Preferences) *Settings { return &Settings{p: p} }

// Theme is System, Light or Dark.
func (s *Settings) Theme() string { return s.p.StringWithFallback(prefTheme, ThemeSystem) }

// SetTheme changes the theme choice.
func (s *Settings) SetTheme(v string) { s.p.SetString(prefTheme, v) }

// EnergyUnit is kWh or Wh: energy and power are shown in it (or its power counterpart).
func (s *Settings) EnergyUnit() string { return s.p.StringWithFallback(prefEnergyUnit, "kWh") }

// SetEnergyUnit changes the energy unit.
func (s *Settings) SetEnergyUnit(v string) { s.p.SetString(prefEnergyUnit, v) }

// TimeZone is how times are shown: ZoneMeter, ZoneLocal or ZoneUTC.
func (s *Settings) TimeZone() string { return s.p.StringWithFallback(prefTimeZone, ZoneMeter) }

// SetTimeZone changes how times are shown.
func (s *Settings) SetTimeZone(v string) { s.p.SetString(prefTimeZone, v) }

// StartMinimised says whether the app starts hidden in the tray.
func (s *Settings) StartMinimised() bool { return s.p.BoolWithFallback(prefStartMin, false) }

// SetStartMinimised changes StartMinimised.
func (s *Settings) SetStartMinimised(v bool) { s.p.SetBool(prefStartMin, v) }

// CloseToTray says whether closing the window keeps the app syncing in the tray. It is off by
// default because not every Linux desktop shows a tray.
func (s *Settings) CloseToTray() bool { return s.p.BoolWithFallback(prefCloseToTray, false) }

// SetCloseToTray changes CloseToTray.
func (s *Settings) SetCloseToTray(v bool) { s.p.SetBool(prefCloseToTray, v) }

// Notifications says whether desktop notifications are sent.
func (s *Settings) Notifications() bool { return s.p.BoolWithFallback(prefNotify, true) }

// SetNotifications changes Notifications.
func (s *Settings) SetNotifications(v bool) { s.p.SetBool(prefNotify, v) }

// WindowSize is the size the window had when it was last closed.
func (s *Settings) WindowSize() (float32, float32) {
	return float32(s.p.FloatWithFallback(prefWindowW, 1100)), float32(s.p.FloatWithFallback(prefWindowH, 720))
}

// SetWindowSize remembers the window's size.
func (s *Settings) SetWindowSize(w, h float32) {
	if w >= 200 && h >= 150 {
		s.p.SetFloat(prefWindowW, float64(w))
		s.p.SetFloat(prefWindowH, float64(h))
	}
}

// LastView is the view shown when the app was last used.
func (s *Settings) LastView() string { return s.p.StringWithFallback(prefLastView, ViewUsage) }

// SetLastView remembers the view shown.
func (s *Settings) SetLastView(v string) { s.p.SetString(prefLastView, v) }

// Location is the time zone to show a meter's times in.
func (s *Settings) Location(meterZone string) *time.Location {
	switch s.TimeZone() {
	case ZoneUTC:
		return time.UTC
	case ZoneLocal:
		return time.Local
	}
	return meterLocation(meterZone)
}

// Apply applies the theme choice to a.
func (s *Settings) Apply(a fyne.App) {
	switch s.Theme() {
	case ThemeLight:
		a.Settings().SetTheme(variantTheme{theme.DefaultTheme(), theme.VariantLight})
	case ThemeDark:
		a.Settings().SetTheme(variantTheme{theme.DefaultTheme(), theme.VariantDark})
	default:
		if _, ok := a.Settings().Theme().(variantTheme); ok {
			a.Settings().SetTheme(theme.DefaultTheme())
		}
	}
}

// variantTheme forces a light or dark variant of a theme whatever the desktop says.
type variantTheme struct {
	fyne.Theme
	variant fyne.ThemeVariant
}

func (t variantTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return t.Theme.Color(n, t.variant)
}

// meterLocation parses a meter's time zone: an IANA name or a fixed offset such as -08:00.
// Unknown or empty zones fall back to UTC, which is what the store keeps.
func meterLocation(zone string) *time.Location {
	if zone == "" {
		return time.UTC
	}
	if loc, err := time.LoadLocation(zone); err == nil {
		return loc
	}
	if t, err := time.Parse("-07:00", zone); err == nil {
		_, off := t.Zone()
		return time.FixedZone("UTC"+zone, off)
	}
	return time.UTC
}
