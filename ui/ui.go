// Package ui is Custody's Fyne interface: the main window and its views.
//
// The views read through the small [Data] interface and learn of changes through status
// events; they never open files or sockets, and they touch widgets only on the Fyne goroutine
// (fyne.Do), so the window stays fluid while the engine works.
package ui

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// Data is what the views read. *store.Store implements it.
type Data interface {
	Counts(ctx context.Context) (store.Counts, error)
	Meters(ctx context.Context, f store.MeterFilter) ([]store.Meter, error)
	SeriesOf(ctx context.Context, meterID int64) ([]store.Series, error)
	ReadingRange(ctx context.Context, seriesID, from, to int64) ([]int64, []float64, error)
	Sources(ctx context.Context) ([]store.Source, error)
	Runs(ctx context.Context, sourceID int64, limit int) ([]store.SyncRun, error)
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

// Deps is what the main window needs.
type Deps struct {
	Data Data
	// DBPath is shown to the user so they know where their data lives.
	DBPath string
	// Demo marks a throwaway demo session.
	Demo bool
}

// MainWindow is Custody's main window.
type MainWindow struct {
	Window  fyne.Window
	deps    Deps
	nav     *widget.List
	content *fyne.Container
	current string
	views   map[string]fyne.CanvasObject
	status  *widget.Label
}

// NewMainWindow builds the main window of app a. It does not show it.
func NewMainWindow(a fyne.App, d Deps) *MainWindow {
	title := "Custody"
	if d.Demo {
		title = "Custody — demo"
	}
	m := &MainWindow{Window: a.NewWindow(title), deps: d, views: map[string]fyne.CanvasObject{}}
	m.status = widget.NewLabel("")
	m.content = container.NewStack()
	m.nav = widget.NewList(
		func() int { return len(Views) },
		func() fyne.CanvasObject { return widget.NewLabel("Messages") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(Views[i]) },
	)
	m.nav.OnSelected = func(i widget.ListItemID) { m.Show(Views[i]) }
	split := container.NewHSplit(m.nav, container.NewBorder(nil, m.status, nil, nil, m.content))
	split.Offset = 0.18
	m.Window.SetContent(split)
	m.Window.Resize(fyne.NewSize(1100, 720))
	m.nav.Select(0)
	m.Refresh()
	return m
}

// Show switches to the named view.
func (m *MainWindow) Show(name string) {
	v, ok := m.views[name]
	if !ok {
		v = m.buildView(name)
		m.views[name] = v
	}
	m.current = name
	m.content.Objects = []fyne.CanvasObject{v}
	m.content.Refresh()
	for i, n := range Views {
		if n == name {
			m.nav.Select(i)
		}
	}
}

// Current is the name of the view shown.
func (m *MainWindow) Current() string { return m.current }

func (m *MainWindow) buildView(name string) fyne.CanvasObject {
	heading := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	body := widget.NewLabel("Loading…")
	body.Wrapping = fyne.TextWrapWord
	return container.NewBorder(heading, nil, nil, nil, body)
}

// Refresh reloads the status line from the store, off the UI goroutine.
func (m *MainWindow) Refresh() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := m.deps.Data.Counts(ctx)
		text := fmt.Sprintf("%d meters · %d series · %d readings · %d events · %d messages — %s",
			c.Meters, c.Series, c.Readings, c.Events, c.Messages, m.deps.DBPath)
		if err != nil {
			text = "Could not read the database: " + err.Error()
		}
		fyne.Do(func() { m.status.SetText(text) })
	}()
}
