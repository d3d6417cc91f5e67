// Package ui is Custody's Fyne interface: the main window and its views (usage, events,
// messages, sources, activity), settings, import and export.
//
// The views read through small interfaces declared here and injected by package app; they
// never open files or sockets themselves. Store, network and parse work runs on background
// goroutines and its results are applied to widgets with fyne.Do, so the window stays fluid
// while the engine works or a large file imports.
package ui

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/fileimport"
	"custody/sync/settings"
)

// Data is what the views read. *store.Store implements it.
type Data interface {
	Counts(ctx context.Context) (store.Counts, error)
	Meters(ctx context.Context, f store.MeterFilter) ([]store.Meter, error)
	SeriesOf(ctx context.Context, meterID int64) ([]store.Series, error)
	ReadingRange(ctx context.Context, seriesID, from, to int64) ([]int64, []float64, error)
	StatsOf(ctx context.Context, seriesID int64) (store.SeriesStats, error)
	SpanOf(ctx context.Context, seriesID int64) (first, last int64, ok bool, err error)
	CostOf(ctx context.Context, seriesID, from, to int64) (sum float64, n int64, err error)
	PeriodTotals(ctx context.Context, seriesID, from, to int64) (store.Totals, error)
	SetMeterDisplayName(ctx context.Context, meterID int64, name string) error
	SummariesOf(ctx context.Context, meterID int64) ([]store.UsageSummary, error)
	Sources(ctx context.Context) ([]store.Source, error)
	Runs(ctx context.Context, sourceID int64, limit int) ([]store.SyncRun, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	ResourceTimeline(ctx context.Context, sourceID int64, rid string) ([]store.ResourceState, error)
	Messages(ctx context.Context, f store.MessageFilter) ([]store.Message, error)
}

// SourceEditor changes the configured sources. *store.Store implements it.
type SourceEditor interface {
	AddSource(ctx context.Context, src *store.Source) error
	UpdateSource(ctx context.Context, src *store.Source) error
	RemoveSource(ctx context.Context, name string) error
}

// Engine is the background sync engine as the UI sees it. *engine.Engine implements it.
type Engine interface {
	Subscribe() (<-chan engine.Status, func())
	Statuses() []engine.Status
	SyncNow(source string)
	Reload(ctx context.Context) error
	Test(ctx context.Context, source string) (string, error)
	// Unregister deletes what the source registered at its custodian (an Open Banking event
	// subscription) and says what it did.
	Unregister(ctx context.Context, source string) (string, error)
}

// Secrets stores and forgets secrets of a source in the OS keyring. The UI never reads one.
type Secrets interface {
	SetSecret(source, field, value string) error
	DeleteSecret(source, field string) error
	// ReplaceSecrets stores a source's secrets by field, all or none: when one cannot be
	// stored, the keyring keeps the earlier ones.
	ReplaceSecrets(source string, values map[string]string) error
}

// Importer imports one file by path, reporting bytes read of the file's size.
type Importer interface {
	Import(ctx context.Context, path string, progress func(read, size int64)) (fileimport.Summary, error)
}

// Exporter writes readings in the export contract to w: every reading as CSV, or what a
// request selects in the format it names.
type Exporter interface {
	ExportCSV(ctx context.Context, w io.Writer) error
	Export(ctx context.Context, w io.Writer, req ExportRequest) error
}

// ExportRequest selects readings to export from the GUI, as `custody export` would.
type ExportRequest struct {
	// Format is csv, json (JSON Lines) or parquet.
	Format string
	// Meter is a meter's key; empty for every meter.
	Meter string
	// Series are the keys of the meter's series to export; empty for all of them.
	Series []string
	// From and To bound the readings' starts (unix seconds, To excluded); 0 for unbounded.
	From, To int64
}

// DataHubRequest asks DataHub for data over a period: the validated measure data of one
// metering point, a grid area's aggregated data, or its wholesale settlement.
type DataHubRequest struct {
	// Kind is "validated" (RSM-015, the default when empty), "aggregated" (RSM-016) or
	// "wholesale" (RSM-017).
	Kind string
	// MeteringPoint is the GSRN of a validated request; GridArea the 3-digit grid area of the
	// others.
	MeteringPoint, GridArea string
	// SettlementVersion is D01, D02 or D03 with process D32 (a correction settlement).
	SettlementVersion string
	// From and To are Danish midnights (Europe/Copenhagen), as DataHub requires.
	From, To time.Time
	// BusinessReason is the CIM process type, such as E23 (periodic metering).
	BusinessReason string
	// Sender is the requester's GLN (13 digits) or EIC; Role its market role (DDQ, DDM, ...).
	// Empty: the source's own identity.
	Sender, Role string
}

// DataHubRequester sends a request document to DataHub; the answer arrives later as a message
// with the returned correlation id.
type DataHubRequester interface {
	RequestMeasureData(ctx context.Context, source string, req DataHubRequest) (correlationID string, err error)
}

// View names, in navigation order.
const (
	ViewUsage    = "Usage"
	ViewEvents   = "Events"
	ViewMessages = "Messages"
	ViewSources  = "Sources"
	ViewActivity = "Activity"
)

// Views lists the views in navigation order.
var Views = []string{ViewUsage, ViewEvents, ViewMessages, ViewSources, ViewActivity}

// Deps is what the main window needs. Only Data is required; a missing piece turns its
// feature off with a plain message.
type Deps struct {
	Data    Data
	Editor  SourceEditor
	Engine  Engine
	Secrets Secrets
	// SecretField is the keyring field of a source's client secret ("client_secret").
	SecretField string
	// Kinds describe the source kinds the Sources form can add and edit, from the drivers
	// (package settings); the form is made from them and checked with settings.Build.
	Kinds   []settings.Kind
	Import  Importer
	Export  Exporter
	DataHub DataHubRequester
	// GreenButton connects Connect My Data sources and tests their notification listeners.
	GreenButton GreenButton
	// DBPath is shown to the user so they know where their data lives.
	DBPath string
	// Demo marks a throwaway demo session.
	Demo bool
	// OpenDemo starts the demo beside this session (another window on a throwaway database);
	// nil where that is not possible.
	OpenDemo func() error
	// Now is the clock; tests fix it.
	Now func() time.Time

	// applyQueue, in tests, receives the UI work of background loads instead of fyne.Do, so
	// that the test's goroutine applies it in Wait (the test driver runs fyne.Do at once on
	// the calling goroutine, which would race with the test).
	applyQueue chan queued
}

// MainWindow is Custody's main window.
type MainWindow struct {
	Window   fyne.Window
	App      fyne.App
	deps     Deps
	settings *Settings
	nav      *widget.List
	content  *fyne.Container
	current  string
	views    map[string]view
	status   *widget.Label
	progress *widget.ProgressBar
	progLbl  *widget.Label
	progBox  *fyne.Container
	notifier *notifier
	// counted says the first counts of the database have arrived (they choose the first view).
	counted bool
	// shortcuts are the Ctrl+key actions registered on the canvas, by key.
	shortcuts map[fyne.KeyName]func()

	pending  sync.WaitGroup
	inflight atomic.Int64
	queue    chan queued
	ctx      context.Context
	cancel   context.CancelFunc
}

// view is one screen of the main window.
type view interface {
	object() fyne.CanvasObject
	// reload reads the view's data again (off the UI goroutine).
	reload()
}

// NewMainWindow builds the main window of app a. It does not show it.
func NewMainWindow(a fyne.App, d Deps) *MainWindow {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SecretField == "" {
		d.SecretField = "client_secret"
	}
	title := "Custody"
	if d.Demo {
		title = "Custody — demo"
	}
	m := &MainWindow{Window: a.NewWindow(title), App: a, deps: d, views: map[string]view{}, queue: d.applyQueue}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.settings = NewSettings(a.Preferences())
	m.settings.Apply(a)
	m.status = widget.NewLabel("")
	m.status.Truncation = fyne.TextTruncateEllipsis
	m.progress = widget.NewProgressBar()
	m.progLbl = widget.NewLabel("")
	m.progBox = container.NewBorder(nil, nil, m.progLbl, nil, m.progress)
	m.progBox.Hide()
	m.content = container.NewStack()
	m.nav = widget.NewList(
		func() int { return len(Views) },
		func() fyne.CanvasObject { return widget.NewLabel("Messages") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(Views[i]) },
	)
	m.nav.OnSelected = func(i widget.ListItemID) { m.Show(Views[i]) }
	bottom := container.NewVBox(m.progBox, m.status)
	split := container.NewHSplit(m.nav, container.NewBorder(nil, bottom, nil, nil, m.content))
	split.Offset = 0.14
	m.Window.SetContent(split)
	m.Window.SetMainMenu(m.mainMenu())
	m.addShortcuts()
	m.Window.SetOnDropped(m.dropped)
	w, h := m.settings.WindowSize()
	m.Window.Resize(fyne.NewSize(w, h))
	m.notifier = newNotifier(a, m.settings, d.Now)
	m.notifier.secretOf = func(kind string) (string, string) {
		if k, ok := m.kind(kind); ok && len(k.Secrets()) > 0 {
			return k.Secrets()[0].Label, k.Secrets()[0].Link
		}
		return "", ""
	}
	m.Show(m.settings.LastView())
	m.Refresh()
	return m
}

// Show switches to the named view and remembers it for the next start.
func (m *MainWindow) Show(name string) {
	idx := -1
	for i, n := range Views {
		if n == name {
			idx = i
		}
	}
	if idx < 0 {
		name, idx = ViewUsage, 0
	}
	v, ok := m.views[name]
	if !ok {
		v = m.buildView(name)
		m.views[name] = v
	}
	if m.current == name {
		return
	}
	m.current = name
	m.settings.SetLastView(name)
	m.content.Objects = []fyne.CanvasObject{v.object()}
	m.content.Refresh()
	m.nav.Select(idx)
}

// Current is the name of the view shown.
func (m *MainWindow) Current() string { return m.current }

func (m *MainWindow) buildView(name string) view {
	switch name {
	case ViewEvents:
		return newEventsView(m)
	case ViewMessages:
		return newMessagesView(m)
	case ViewSources:
		return newSourcesView(m)
	case ViewActivity:
		return newActivityView(m)
	}
	return newUsageView(m)
}

// Refresh reloads every built view and the status line from the store, off the UI goroutine.
func (m *MainWindow) Refresh() {
	for _, v := range m.views {
		v.reload()
	}
	background(m, func(ctx context.Context) (store.Counts, error) {
		return m.deps.Data.Counts(ctx)
	}, func(c store.Counts, err error) {
		text := fmtCounts(c) + " — " + m.deps.DBPath
		if err != nil {
			text = "Could not read the database: " + err.Error()
		}
		m.status.SetText(text)
		if err == nil && !m.counted {
			m.counted = true
			if c.Meters == 0 && c.Events == 0 && c.Messages == 0 {
				// Nothing to look at yet: open on the Usage view's welcome, which offers the
				// ways in, rather than on the empty view used last.
				m.Show(ViewUsage)
			}
		}
	})
}

// Wait blocks until the background loads started so far (and those their results start)
// have been applied. Tests use it.
func (m *MainWindow) Wait() {
	if m.queue == nil {
		m.pending.Wait()
		return
	}
	// Each background load posts exactly one final item; progress updates come before it.
	for m.inflight.Load() > 0 {
		q := <-m.queue
		q.f()
		if q.final {
			m.inflight.Add(-1)
		}
	}
}

// queued is UI work posted to the test queue; final marks a load's last item.
type queued struct {
	f     func()
	final bool
}

// do runs f on the Fyne goroutine (in tests: on the goroutine that calls Wait).
func (m *MainWindow) do(f func()) {
	if m.queue != nil {
		m.queue <- queued{f: f}
		return
	}
	fyne.Do(f)
}

// Hide hides the window to the system tray and remembers its size. Unlike Close it keeps the
// window's background work, the engine's status updates and the notifications going: in the
// tray the app is still running and the user relies on it to say when something happens.
func (m *MainWindow) Hide() {
	m.rememberSize()
	m.Window.Hide()
}

// Close stops the window's background work and remembers its size; the app is quitting.
func (m *MainWindow) Close() {
	m.rememberSize()
	m.cancel()
}

// RequestClose is what closing the window does. With a system tray and the "close to tray"
// setting on, the window only hides (Hide) and the app goes on syncing and notifying;
// otherwise the window stops its work (Close) and the app quits.
func (m *MainWindow) RequestClose(hasTray bool) {
	if hasTray && m.settings.CloseToTray() {
		m.Hide()
		return
	}
	m.Close()
	m.App.Quit()
}

func (m *MainWindow) rememberSize() {
	s := m.Window.Canvas().Size()
	m.settings.SetWindowSize(s.Width, s.Height)
}

// background runs work off the UI goroutine and hands its result to apply on the Fyne
// goroutine.
func background[T any](m *MainWindow, work func(ctx context.Context) (T, error), apply func(T, error)) {
	backgroundFor(m, 30*time.Second, work, apply)
}

// backgroundFor is background with a time limit for the work; 0 means none (imports and
// exports of large files take as long as they take, and the window stays responsive).
func backgroundFor[T any](m *MainWindow, limit time.Duration, work func(ctx context.Context) (T, error), apply func(T, error)) {
	m.pending.Add(1)
	if m.queue != nil {
		m.inflight.Add(1)
	}
	go func() {
		defer m.pending.Done()
		ctx, cancel := context.WithCancel(m.ctx)
		if limit > 0 {
			ctx, cancel = context.WithTimeout(m.ctx, limit)
		}
		defer cancel()
		v, err := work(ctx)
		if m.queue != nil {
			if m.ctx.Err() != nil {
				select {
				case m.queue <- queued{f: func() {}, final: true}:
				default:
				}
				return
			}
			m.queue <- queued{f: func() { apply(v, err) }, final: true}
			return
		}
		if m.ctx.Err() != nil {
			return
		}
		fyne.DoAndWait(func() { apply(v, err) })
	}()
}

// StartEngineUpdates applies the engine's status events to the views and notifications
// until the window closes. It returns at once; call it on the Fyne goroutine.
func (m *MainWindow) StartEngineUpdates() {
	if m.deps.Engine == nil {
		return
	}
	ch, stop := m.deps.Engine.Subscribe()
	go func() {
		defer stop()
		for {
			select {
			case <-m.ctx.Done():
				return
			case st, ok := <-ch:
				if !ok {
					return
				}
				m.do(func() { m.applyStatus(st) })
			}
		}
	}()
}

// applyStatus brings one engine status to the views. It runs on the Fyne goroutine.
func (m *MainWindow) applyStatus(st engine.Status) {
	if a, ok := m.views[ViewActivity].(*activityView); ok {
		a.apply(st)
	}
	newData := m.notifier.status(st)
	if newData {
		m.Refresh()
	}
	if mv, ok := m.views[ViewMessages].(*messagesView); ok && st.Kind == "datahub" {
		mv.checkPending()
	}
}

// SyncNow asks the engine to sync every source now.
func (m *MainWindow) SyncNow() {
	if m.deps.Engine == nil {
		m.status.SetText("Sync is not available in this session.")
		return
	}
	for _, st := range m.deps.Engine.Statuses() {
		if st.State != engine.StateDisabled {
			m.deps.Engine.SyncNow(st.Source)
		}
	}
	m.status.SetText("Syncing every source now…")
}
