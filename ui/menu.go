package ui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/fileimport"
)

// Shortcuts: Ctrl+1…5 switch views, Ctrl+R syncs, Ctrl+O imports, Ctrl+E exports,
// Ctrl+, opens the settings.
func (m *MainWindow) mainMenu() *fyne.MainMenu {
	file := fyne.NewMenu("File",
		&fyne.MenuItem{Label: "Import files…", Action: m.ImportDialog, Shortcut: shortcut(fyne.KeyO)},
		fyne.NewMenuItem("Import a folder…", m.ImportFolderDialog),
		&fyne.MenuItem{Label: "Export CSV…", Action: m.ExportDialog, Shortcut: shortcut(fyne.KeyE)},
		fyne.NewMenuItemSeparator(),
		&fyne.MenuItem{Label: "Settings…", Action: m.SettingsDialog, Shortcut: shortcut(fyne.KeyComma)},
	)
	var viewItems []*fyne.MenuItem
	for i, name := range Views {
		name := name
		viewItems = append(viewItems, &fyne.MenuItem{Label: name, Action: func() { m.Show(name) }, Shortcut: shortcut(fyne.KeyName(fmt.Sprint(i + 1)))})
	}
	view := fyne.NewMenu("View", viewItems...)
	syncMenu := fyne.NewMenu("Sync", &fyne.MenuItem{Label: "Sync now", Action: m.SyncNow, Shortcut: shortcut(fyne.KeyR)})
	help := fyne.NewMenu("Help", fyne.NewMenuItem("About Custody", m.About))
	return fyne.NewMainMenu(file, view, syncMenu, help)
}

func shortcut(k fyne.KeyName) fyne.Shortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault}
}

func (m *MainWindow) addShortcuts() {
	c := m.Window.Canvas()
	m.shortcuts = map[fyne.KeyName]func(){}
	add := func(k fyne.KeyName, fn func()) {
		m.shortcuts[k] = fn
		c.AddShortcut(shortcut(k).(*desktop.CustomShortcut), func(fyne.Shortcut) { fn() })
	}
	for i, name := range Views {
		name := name
		add(fyne.KeyName(fmt.Sprint(i+1)), func() { m.Show(name) })
	}
	add(fyne.KeyR, m.SyncNow)
	add(fyne.KeyO, m.ImportDialog)
	add(fyne.KeyE, m.ExportDialog)
	add(fyne.KeyComma, m.SettingsDialog)
}

// About shows the app's name, version and where its data lives.
func (m *MainWindow) About() {
	md := m.App.Metadata()
	text := fmt.Sprintf("Custody %s (build %d)\nYour energy and banking data, in your custody.\n\nDatabase: %s", md.Version, md.Build, m.deps.DBPath)
	dialog.ShowInformation("About Custody", text, m.Window)
}

// dropped imports the files dropped on the window.
func (m *MainWindow) dropped(_ fyne.Position, uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	m.ImportFiles(paths)
}

// ImportDialog asks for a file to import.
func (m *MainWindow) ImportDialog() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			dialog.ShowError(err, m.Window)
			return
		}
		if r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		m.ImportFiles([]string{path})
	}, m.Window)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".xml", ".json", ".XML", ".JSON"}))
	d.Show()
}

// importOutcome is what importing several files came to.
type importOutcome struct {
	lines  []string
	failed int
}

// ImportFiles imports files one after the other off the UI goroutine, with a progress bar,
// and says what each brought in.
func (m *MainWindow) ImportFiles(paths []string) {
	if len(paths) == 0 {
		return
	}
	if m.deps.Import == nil {
		dialog.ShowInformation("Import", "Importing files is not available in this session.", m.Window)
		return
	}
	m.progress.Min, m.progress.Max = 0, 1
	m.progress.SetValue(0)
	m.progLbl.SetText("Importing…")
	m.progBox.Show()
	backgroundFor(m, 0, func(ctx context.Context) (importOutcome, error) {
		var out importOutcome
		for i, p := range paths {
			name := baseName(p)
			label := fmt.Sprintf("Importing %s (%d of %d)", name, i+1, len(paths))
			m.do(func() { m.progLbl.SetText(label); m.progress.SetValue(0) })
			var last time.Time
			sum, err := m.deps.Import.Import(ctx, p, func(read, size int64) {
				if size <= 0 || time.Since(last) < 50*time.Millisecond {
					return
				}
				last = time.Now()
				f := float64(read) / float64(size)
				m.do(func() { m.progress.SetValue(f) })
			})
			if err != nil {
				out.failed++
				out.lines = append(out.lines, fmt.Sprintf("FAILED %s: %v (the file is kept in the archive; nothing of it was imported)", name, err))
				continue
			}
			out.lines = append(out.lines, "Imported "+summaryWords(name, sum))
		}
		return out, nil
	}, func(out importOutcome, _ error) {
		m.progBox.Hide()
		title := "Import finished"
		if out.failed > 0 {
			title = fmt.Sprintf("Import: %d of %d files failed", out.failed, len(paths))
		}
		lbl := widget.NewLabel(strings.Join(out.lines, "\n"))
		lbl.Wrapping = fyne.TextWrapWord
		d := dialog.NewCustom(title, "OK", container.NewVScroll(lbl), m.Window)
		d.Resize(fyne.NewSize(560, 260))
		d.Show()
		m.Refresh()
	})
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func summaryWords(name string, s fileimport.Summary) string {
	if s.Unchanged {
		return fmt.Sprintf("%s: already imported, nothing changed", name)
	}
	out := fmt.Sprintf("%s (%s): %s, %s, %s", name, s.Format, plural(int64(s.Meters), "meter", "meters"),
		plural(int64(s.Series), "series", "series"), plural(int64(s.Readings), "reading", "readings"))
	if s.Messages > 0 {
		out += ", " + plural(int64(s.Messages), "message", "messages")
	}
	if !s.From.IsZero() {
		out += fmt.Sprintf(", %s to %s", s.From.Local().Format("2 Jan 2006"), s.To.Local().Format("2 Jan 2006"))
	}
	if len(s.Warnings) > 0 {
		out += fmt.Sprintf("; %s: %s", plural(int64(len(s.Warnings)), "warning", "warnings"), strings.Join(s.Warnings, "; "))
	}
	return out
}

// ExportDialog asks where to save a CSV of every reading and writes it off the UI goroutine.
func (m *MainWindow) ExportDialog() {
	if m.deps.Export == nil {
		dialog.ShowInformation("Export", "Exporting is not available in this session.", m.Window)
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, m.Window)
			return
		}
		if w == nil {
			return
		}
		m.ExportTo(w)
	}, m.Window)
	d.SetFileName("custody-readings.csv")
	d.Show()
}

// ExportTo writes the CSV export to w and closes it, with progress shown.
func (m *MainWindow) ExportTo(w io.WriteCloser) {
	m.exportWith(w, "CSV", m.deps.Export.ExportCSV)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// settingsForm is the settings dialog's widgets.
type settingsForm struct {
	m                      *MainWindow
	th, unit               *widget.RadioGroup
	zone                   *widget.Select
	startMin, tray, notify *widget.Check
	intervals              map[string]*widget.SelectEntry
	srcs                   []store.Source
	dlg                    dialog.Dialog
}

// SettingsDialog shows the display, startup, notification and sync settings.
func (m *MainWindow) SettingsDialog() { m.settingsForm().dlg.Show() }

func (m *MainWindow) settingsForm() *settingsForm {
	s := m.settings
	th := widget.NewRadioGroup([]string{ThemeSystem, ThemeLight, ThemeDark}, nil)
	th.Horizontal = true
	th.SetSelected(s.Theme())
	unit := widget.NewRadioGroup([]string{"kWh", "Wh"}, nil)
	unit.Horizontal = true
	unit.SetSelected(s.EnergyUnit())
	zone := widget.NewSelect([]string{ZoneMeter, ZoneLocal, ZoneUTC}, nil)
	zone.SetSelected(s.TimeZone())
	startMin := widget.NewCheck("Start minimised in the system tray", nil)
	startMin.SetChecked(s.StartMinimised())
	tray := widget.NewCheck("Closing the window keeps Custody syncing in the tray", nil)
	tray.SetChecked(s.CloseToTray())
	notify := widget.NewCheck("Notify me of new data, failures and expiring credentials", nil)
	notify.SetChecked(s.Notifications())
	items := []*widget.FormItem{
		widget.NewFormItem("Theme", th),
		widget.NewFormItem("Energy unit", unit),
		widget.NewFormItem("Show times in", zone),
		widget.NewFormItem("Startup", startMin),
		widget.NewFormItem("Tray", tray),
		widget.NewFormItem("Notifications", notify),
	}
	intervals := map[string]*widget.SelectEntry{}
	var srcs []store.Source
	if uv, ok := m.views[ViewSources].(*sourcesView); ok {
		srcs = uv.sources
	}
	for _, src := range srcs {
		if src.Kind == "file" {
			continue
		}
		e := widget.NewSelectEntry([]string{"5m", "15m", "1h", "6h", "24h"})
		e.SetText(src.Config["interval"])
		e.SetPlaceHolder("default")
		intervals[src.Name] = e
		items = append(items, widget.NewFormItem("Sync "+src.Name+" every", e))
	}
	f := &settingsForm{m: m, th: th, unit: unit, zone: zone, startMin: startMin, tray: tray, notify: notify,
		intervals: intervals, srcs: srcs}
	f.dlg = dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if ok {
			f.save()
		}
	}, m.Window)
	f.dlg.Resize(fyne.NewSize(600, 520))
	return f
}

// save keeps the choices in Preferences, applies them, and stores changed sync intervals.
func (f *settingsForm) save() {
	s, m := f.m.settings, f.m
	s.SetTheme(f.th.Selected)
	s.SetEnergyUnit(f.unit.Selected)
	s.SetTimeZone(f.zone.Selected)
	s.SetStartMinimised(f.startMin.Checked)
	s.SetCloseToTray(f.tray.Checked)
	s.SetNotifications(f.notify.Checked)
	s.Apply(m.App)
	m.saveIntervals(f.srcs, f.intervals)
	if uv, ok := m.views[ViewUsage].(*usageView); ok && uv.meter.ID != 0 {
		uv.selectMeter(uv.meter)
	}
}

// saveIntervals stores changed sync intervals in the sources and reloads the engine.
func (m *MainWindow) saveIntervals(srcs []store.Source, entries map[string]*widget.SelectEntry) {
	var changed []store.Source
	for _, src := range srcs {
		e := entries[src.Name]
		if e == nil {
			continue
		}
		v := strings.TrimSpace(e.Text)
		if v == src.Config["interval"] {
			continue
		}
		if v != "" {
			if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
				dialog.ShowError(fmt.Errorf("sync interval %q of %s: give a duration of at least 1m, such as 15m or 6h", v, src.Name), m.Window)
				return
			}
		}
		cfg := map[string]string{}
		for k, x := range src.Config {
			cfg[k] = x
		}
		if v == "" {
			delete(cfg, "interval")
		} else {
			cfg["interval"] = v
		}
		src.Config = cfg
		changed = append(changed, src)
	}
	if len(changed) == 0 || m.deps.Editor == nil {
		return
	}
	background(m, func(ctx context.Context) (struct{}, error) {
		for i := range changed {
			if err := m.deps.Editor.UpdateSource(ctx, &changed[i]); err != nil {
				return struct{}{}, err
			}
		}
		if m.deps.Engine != nil {
			return struct{}{}, m.deps.Engine.Reload(ctx)
		}
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		if err != nil {
			dialog.ShowError(err, m.Window)
			return
		}
		m.Refresh()
	})
}

// CheckCredentials reminds the user of client secrets about to expire.
func (m *MainWindow) CheckCredentials() {
	background(m, func(ctx context.Context) ([]store.Source, error) {
		return m.deps.Data.Sources(ctx)
	}, func(srcs []store.Source, err error) {
		if err == nil {
			m.notifier.credentials(srcs)
		}
	})
}

// Settings are the window's settings, for the app's tray and lifecycle choices.
func (m *MainWindow) Settings() *Settings { return m.settings }

func fmtCounts(c store.Counts) string {
	return strings.Join([]string{plural(c.Sources, "source", "sources"), plural(c.Meters, "meter", "meters"),
		plural(c.Series, "series", "series"), plural(c.Readings, "reading", "readings"), plural(c.Summaries, "bill", "bills"),
		plural(c.Events, "event", "events"), plural(c.Messages, "message", "messages")}, " · ")
}
