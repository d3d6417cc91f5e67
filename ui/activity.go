package ui

import (
	"context"
	"fmt"
	"sort"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/engine"
)

// activityView shows the engine's live status per source and the sync history.
type activityView struct {
	m        *MainWindow
	root     fyne.CanvasObject
	cards    *fyne.Container
	statuses map[string]engine.Status
	rows     map[string]*statusRow
	history  *widget.Table
	runs     []store.SyncRun
	note     *widget.Label
	top      *fyne.Container
}

// statusRow is the live display of one source.
type statusRow struct {
	box      *fyne.Container
	title    *widget.Label
	bar      *widget.ProgressBar
	times    *widget.Label
	problem  *widget.Label
	syncNow  *widget.Button
	progress *widget.Label
}

var historyHeaders = []string{"Source", "Started", "Took", "Result", "Items", "Readings", "Error"}

func newActivityView(m *MainWindow) *activityView {
	v := &activityView{m: m, statuses: map[string]engine.Status{}, rows: map[string]*statusRow{}}
	v.cards = container.NewVBox()
	v.note = widget.NewLabel("")
	v.history = widget.NewTable(
		func() (int, int) { return len(v.runs) + 1, len(historyHeaders) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if id.Row == 0 {
				l.TextStyle.Bold = true
				l.SetText(historyHeaders[id.Col])
				return
			}
			l.TextStyle.Bold = false
			l.SetText(runCell(v.runs[id.Row-1], id.Col))
		},
	)
	for i, w := range []float32{130, 150, 70, 80, 70, 90, 420} {
		v.history.SetColumnWidth(i, w)
	}
	v.top = container.NewVBox(v.note, v.cards)
	top := container.NewVScroll(v.top)
	split := container.NewVSplit(top, container.NewBorder(widget.NewLabelWithStyle("Sync history", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), nil, nil, nil, v.history))
	split.Offset = 0.55
	v.root = split
	v.reload()
	return v
}

func (v *activityView) object() fyne.CanvasObject { return v.root }

func runCell(r store.SyncRun, col int) string {
	switch col {
	case 0:
		return r.Source
	case 1:
		return r.Started.Local().Format("2006-01-02 15:04:05")
	case 2:
		if r.Finished.IsZero() {
			return "running"
		}
		return r.Finished.Sub(r.Started).Round(time.Second).String()
	case 3:
		return r.Status
	case 4:
		return fmt.Sprint(r.Items)
	case 5:
		return fmt.Sprint(r.Readings)
	case 6:
		if r.ErrorKind != "" {
			return r.ErrorKind + ": " + r.Error
		}
		return r.Error
	}
	return ""
}

type activityData struct {
	statuses []engine.Status
	runs     []store.SyncRun
}

func (v *activityView) reload() {
	eng := v.m.deps.Engine
	background(v.m, func(ctx context.Context) (activityData, error) {
		var d activityData
		if eng != nil {
			d.statuses = eng.Statuses()
		}
		var err error
		d.runs, err = v.m.deps.Data.Runs(ctx, 0, 200)
		return d, err
	}, func(d activityData, err error) {
		if err != nil {
			v.note.SetText("Could not read the sync history: " + err.Error())
		}
		v.runs = d.runs
		v.history.Refresh()
		v.note.Show()
		switch {
		case eng == nil:
			v.note.SetText("Background sync is not running in this session; the history below is from the database.")
		case len(d.statuses) == 0:
			v.note.SetText("No sources to sync. Add one under Sources.")
		default:
			v.note.Hide()
		}
		for _, st := range d.statuses {
			v.apply(st)
		}
		v.top.Refresh()
	})
}

// apply shows one status. It runs on the Fyne goroutine.
func (v *activityView) apply(st engine.Status) {
	prev, had := v.statuses[st.Source]
	v.statuses[st.Source] = st
	if v.m.deps.Engine != nil && v.note.Visible() {
		v.note.Hide() // "no sources yet" no longer holds
	}
	row := v.rows[st.Source]
	if row == nil {
		row = v.newRow(st.Source)
		v.rows[st.Source] = row
	}
	v.sortCards()
	row.title.SetText(st.Source + " · " + v.m.kindTitle(st.Kind) + " — " + stateWords(st))
	if st.State == engine.StateSyncing {
		row.bar.Show()
		if st.Progress.Total > 0 {
			row.bar.Max = float64(st.Progress.Total)
			row.bar.SetValue(float64(st.Progress.Done))
		} else {
			row.bar.Max = 1
			row.bar.SetValue(0)
		}
		row.progress.SetText(st.Progress.Message)
		row.progress.Show()
	} else {
		row.bar.Hide()
		row.progress.Hide()
	}
	row.times.SetText(timesWords(st, v.m.deps.Now()))
	if st.LastError != "" {
		text := "Last error: " + st.LastError
		if st.Advice != "" {
			text += "\nWhat to do: " + st.Advice
		}
		if st.Failures > 1 {
			text += fmt.Sprintf("\n(%d failures in a row)", st.Failures)
		}
		row.problem.SetText(text)
		row.problem.Show()
	} else {
		row.problem.Hide()
	}
	row.box.Refresh()
	v.cards.Refresh()
	if had && prev.State == engine.StateSyncing && st.State != engine.StateSyncing {
		v.reloadRuns()
	}
}

func (v *activityView) reloadRuns() {
	background(v.m, func(ctx context.Context) ([]store.SyncRun, error) {
		return v.m.deps.Data.Runs(ctx, 0, 200)
	}, func(runs []store.SyncRun, err error) {
		if err == nil {
			v.runs = runs
			v.history.Refresh()
		}
	})
}

func (v *activityView) newRow(source string) *statusRow {
	r := &statusRow{title: widget.NewLabelWithStyle(source, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		bar: widget.NewProgressBar(), times: widget.NewLabel(""),
		problem: widget.NewLabel(""), progress: widget.NewLabel("")}
	r.problem.Wrapping = fyne.TextWrapWord
	r.problem.Importance = widget.DangerImportance
	r.progress.Truncation = fyne.TextTruncateEllipsis
	r.syncNow = widget.NewButton("Sync now", func() {
		if v.m.deps.Engine != nil {
			v.m.deps.Engine.SyncNow(source)
		}
	})
	r.title.Truncation = fyne.TextTruncateEllipsis
	head := container.NewBorder(nil, nil, nil, r.syncNow, r.title)
	r.box = container.NewVBox(head, r.bar, r.progress, r.times, r.problem, widget.NewSeparator())
	return r
}

func (v *activityView) sortCards() {
	names := make([]string, 0, len(v.rows))
	for n := range v.rows {
		names = append(names, n)
	}
	// Sources that need the user come first, then failing ones, then by name.
	rank := func(n string) int {
		switch v.statuses[n].State {
		case engine.StateAttention:
			return 0
		case engine.StateBackoff:
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	v.cards.Objects = nil
	for _, n := range names {
		v.cards.Add(v.rows[n].box)
	}
}

func stateWords(st engine.Status) string {
	switch st.State {
	case engine.StateSyncing:
		return "syncing…"
	case engine.StateBackoff:
		return "failed, will retry"
	case engine.StateAttention:
		return "needs your attention"
	case engine.StateDisabled:
		return "disabled"
	}
	return "up to date"
}

func timesWords(st engine.Status, now time.Time) string {
	s := "Last success: " + ago(st.LastSuccess, now)
	if st.LastResult.Note != "" {
		s += " (" + st.LastResult.Note + ")"
	} else if !st.LastSuccess.IsZero() {
		s += fmt.Sprintf(" (%d items, %d readings)", st.LastResult.Items, st.LastResult.Readings)
	}
	if !st.NextRun.IsZero() && st.State != engine.StateDisabled {
		s += " · Next run: " + until(st.NextRun, now)
	}
	return s
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.Local().Format("2 Jan 2006 15:04")
}

func until(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int(d.Minutes()+0.5))
	case d < 48*time.Hour:
		return fmt.Sprintf("in %.0f h", d.Hours())
	}
	return t.Local().Format("2 Jan 2006 15:04")
}
