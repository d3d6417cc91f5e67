package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// Filter choices of the events inbox.
const (
	anyType     = "Any type"
	anySource   = "Any source"
	anyStatus   = "Verified and rejected"
	verifiedOK  = "Verified"
	verifiedBad = "Rejected"
	anyResource = "Any resource"
	anyResState = "Any resource status"
)

// eventsView is the inbox of Open Banking events with filters and a detail pane.
type eventsView struct {
	m      *MainWindow
	root   fyne.CanvasObject
	typ    *widget.Select
	src    *widget.Select
	status *widget.Select
	search *widget.Entry
	list   *widget.List
	events []store.Event
	detail *widget.Label
	count  *widget.Label
	seq    int
	// rty and resStatus filter by the resource an event is about and the status it was found
	// in (--follow).
	rty       *widget.Select
	resStatus *widget.Select
	// selected is the id of the selected event, kept across reloads so that the selection
	// stays on the same event while new ones arrive; 0 for none.
	selected int64
	// detailSeq orders the detail loads (the timeline is read from the store).
	detailSeq int
}

func newEventsView(m *MainWindow) *eventsView {
	v := &eventsView{m: m}
	v.typ = widget.NewSelect([]string{anyType}, func(string) { v.reload() })
	v.src = widget.NewSelect([]string{anySource}, func(string) { v.reload() })
	v.status = widget.NewSelect([]string{anyStatus, verifiedOK, verifiedBad}, func(string) { v.reload() })
	v.typ.Selected, v.src.Selected, v.status.Selected = anyType, anySource, anyStatus
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search jti, resource id, subject…")
	v.search.OnChanged = func(string) { v.reload() }
	v.rty = widget.NewSelect([]string{anyResource}, func(string) { v.reload() })
	v.resStatus = widget.NewSelect([]string{anyResState}, func(string) { v.reload() })
	v.rty.Selected, v.resStatus.Selected = anyResource, anyResState
	v.count = widget.NewLabel("")
	v.list = widget.NewList(
		func() int { return len(v.events) },
		newEventRow,
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i < len(v.events) {
				setEventRow(o, v.events[i], v.m.deps.Now())
			}
		},
	)
	v.detail = widget.NewLabel("Select an event to see its claims.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.detail.Selectable = true
	v.list.OnSelected = func(i widget.ListItemID) {
		if i < len(v.events) {
			v.selected = v.events[i].ID
			v.showDetail(v.events[i])
		}
	}
	filters := container.NewGridWithColumns(3, v.typ, v.src, v.status, v.rty, v.resStatus, v.search)
	split := container.NewHSplit(v.list, container.NewVScroll(v.detail))
	split.Offset = 0.55
	v.root = container.NewBorder(container.NewVBox(filters, v.count), nil, nil, nil, split)
	v.reload()
	return v
}

// newEventRow is the template of one inbox row: a badge (a coloured REJECTED, or a check
// mark) and the line.
func newEventRow() fyne.CanvasObject {
	bg := canvas.NewRectangle(color.Transparent)
	bg.CornerRadius = theme.InputRadiusSize()
	badge := canvas.NewText("REJECTED", theme.Color(theme.ColorNameForegroundOnError))
	badge.TextStyle = fyne.TextStyle{Bold: true}
	top := widget.NewLabel("2024-01-01 00:00  resource-update  · my-bank")
	top.Truncation = fyne.TextTruncateEllipsis
	bottom := widget.NewLabel("Domestic payment dsp-0015 of 120.00 GBP to ACME: AcceptedSettlementCompleted")
	bottom.Truncation = fyne.TextTruncateEllipsis
	bottom.TextStyle = fyne.TextStyle{Bold: true}
	lines := container.New(layout.NewCustomPaddedVBoxLayout(-2*theme.Padding()), top, bottom)
	// A fixed width, so that the lines of verified and rejected events start in one column.
	size := badge.MinSize().Add(fyne.NewSize(theme.Padding(), theme.Padding()))
	fixed := container.NewGridWrap(size, container.NewStack(bg, container.NewCenter(badge)))
	return container.NewBorder(nil, nil, container.NewCenter(fixed), nil, lines)
}

// setEventRow fills a row: rejected events get a badge in the theme's error colour.
func setEventRow(o fyne.CanvasObject, e store.Event, now time.Time) {
	row := o.(*fyne.Container)
	// The Border's objects: the lines (a VBox of two labels), then the badge
	// (Center > GridWrap > Stack(bg, Center(text))).
	lines := row.Objects[0].(*fyne.Container)
	badge := row.Objects[1].(*fyne.Container).Objects[0].(*fyne.Container).Objects[0].(*fyne.Container)
	bg := badge.Objects[0].(*canvas.Rectangle)
	text := badge.Objects[1].(*fyne.Container).Objects[0].(*canvas.Text)
	if e.Verified {
		bg.FillColor = color.Transparent
		text.Text, text.Color = "verified", theme.Color(theme.ColorNameSuccess)
	} else {
		bg.FillColor = theme.Color(theme.ColorNameError)
		text.Text, text.Color = "REJECTED", theme.Color(theme.ColorNameForegroundOnError)
	}
	bg.Refresh()
	text.Refresh()
	top, bottom := eventLines(e, now)
	lines.Objects[0].(*widget.Label).SetText(top)
	lines.Objects[1].(*widget.Label).SetText(bottom)
}

func (v *eventsView) object() fyne.CanvasObject { return v.root }

// shortType is the last part of an event type URN, such as resource-update.
func shortType(urn string) string {
	if i := strings.LastIndexAny(urn, ":/"); i >= 0 && i < len(urn)-1 {
		return urn[i+1:]
	}
	return urn
}

// eventLine is an inbox row's text on one line (see eventLines).
func eventLine(e store.Event, now time.Time) string {
	top, bottom := eventLines(e, now)
	return top + "  " + bottom
}

// eventLines are an inbox row's two lines, as a mail client shows sender and subject: when,
// the resource's status (else the kind of event) and the source; then what it means for the
// user (the resource sentence, or which resource it concerns) and, for a rejected event, why.
func eventLines(e store.Event, now time.Time) (top, bottom string) {
	when := e.TOE
	if when.IsZero() {
		when = e.Received
	}
	var types []string
	for _, t := range e.Types {
		types = append(types, shortType(t))
	}
	top = when.Local().Format("2006-01-02 15:04") + "  " + strings.Join(types, ", ")
	if e.Resource != nil && e.Resource.Status != "" {
		// The outcome where it is seen at once, even when the sentence is cut.
		top = when.Local().Format("2006-01-02 15:04") + "  " + e.Resource.Status
	}
	if e.Source != "" {
		top += "  · " + e.Source
	}
	switch {
	case e.Resource != nil:
		bottom = e.Resource.Sentence(time.Local, now)
	case e.RTY != "" || e.RID != "":
		bottom = strings.TrimSpace(e.RTY + " " + e.RID)
	}
	if !e.Verified {
		bottom = strings.TrimSpace(bottom + "  — " + e.Error)
	}
	return top, bottom
}

// showDetail shows an event's detail, with its resource's status timeline read from the
// store off the UI goroutine.
func (v *eventsView) showDetail(e store.Event) {
	now := v.m.deps.Now()
	v.detail.SetText(eventDetail(e, nil, now))
	if e.Resource == nil || e.RID == "" {
		return
	}
	v.detailSeq++
	seq := v.detailSeq
	background(v.m, func(ctx context.Context) ([]store.ResourceState, error) {
		return v.m.deps.Data.ResourceTimeline(ctx, e.SourceID, e.RID)
	}, func(line []store.ResourceState, err error) {
		if seq != v.detailSeq || err != nil {
			return
		}
		v.detail.SetText(eventDetail(e, line, now))
	})
}

// eventDetail is the detail pane's text: what happened (the resource sentence and, when
// known, the resource's status timeline across events), then the verification and claims.
func eventDetail(e store.Event, timeline []store.ResourceState, now time.Time) string {
	var b strings.Builder
	if r := e.Resource; r != nil {
		fmt.Fprintf(&b, "%s\n", r.Sentence(time.Local, now))
		if r.Dates != "" {
			fmt.Fprintf(&b, "    %s\n", r.Dates)
		}
		if len(timeline) > 1 {
			b.WriteString("Status timeline:\n")
			for _, st := range timeline {
				at := st.StatusAt
				if at.IsZero() {
					at = st.Fetched
				}
				what := st.Status
				if what == "" {
					what = st.Note
				}
				mark := ""
				if st.EventID == e.ID {
					mark = "  (this event)"
				}
				fmt.Fprintf(&b, "    %s  %s%s\n", at.Local().Format("2006-01-02 15:04"), what, mark)
			}
		}
		b.WriteString("\n")
	}
	if e.Verified {
		b.WriteString("Verification: signature and claims verified\n")
	} else {
		fmt.Fprintf(&b, "Verification: REJECTED — %s\n", e.Error)
	}
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, value)
		}
	}
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("Mon 2 Jan 2006 15:04:05 MST")
	}
	field("Source", e.Source)
	field("Event types", strings.Join(e.Types, "\n    "))
	field("Issuer (iss)", e.ISS)
	field("Token id (jti)", e.JTI)
	field("Audience (aud)", e.AUD)
	field("Transaction (txn)", e.TXN)
	field("Time of event (toe)", tm(e.TOE))
	field("Issued (iat)", tm(e.IAT))
	field("Received", tm(e.Received))
	field("Resource type (rty)", e.RTY)
	field("Resource id (rid)", e.RID)
	var subject map[string]any
	if json.Unmarshal([]byte(e.Subject), &subject) == nil {
		for k, links := range subject {
			if k == "rlk" || strings.HasSuffix(k, "/rlk") {
				fmt.Fprintf(&b, "Resource links:\n")
				for _, l := range flattenLinks(links) {
					fmt.Fprintf(&b, "    %s\n", l)
				}
			}
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, []byte(e.Subject), "    ", "  ") == nil {
		fmt.Fprintf(&b, "Subject:\n    %s\n", pretty.String())
	} else {
		field("Subject", e.Subject)
	}
	return strings.TrimRight(b.String(), "\n")
}

// flattenLinks lists the links of an rlk claim: [{version, link}] or plain strings.
func flattenLinks(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, it := range x {
			out = append(out, flattenLinks(it)...)
		}
	case map[string]any:
		link, _ := x["link"].(string)
		ver, _ := x["version"].(string)
		if link != "" {
			if ver != "" {
				link += " (version " + ver + ")"
			}
			out = append(out, link)
		}
	case string:
		out = append(out, x)
	}
	return out
}

type eventsData struct {
	events   []store.Event
	types    []string
	sources  []string
	rtys     []string
	statuses []string
}

func (v *eventsView) reload() {
	f := store.EventFilter{Search: strings.TrimSpace(v.search.Text), Limit: 2000}
	if v.typ.Selected != anyType {
		f.Type = v.typ.Selected
	}
	if v.src.Selected != anySource {
		f.Source = v.src.Selected
	}
	if v.rty.Selected != anyResource {
		f.RTY = v.rty.Selected
	}
	if v.resStatus.Selected != anyResState {
		f.ResourceStatus = v.resStatus.Selected
	}
	switch v.status.Selected {
	case verifiedOK:
		t := true
		f.Verified = &t
	case verifiedBad:
		b := false
		f.Verified = &b
	}
	v.seq++
	seq := v.seq
	background(v.m, func(ctx context.Context) (eventsData, error) {
		var d eventsData
		var err error
		if d.events, err = v.m.deps.Data.Events(ctx, f); err != nil {
			return d, err
		}
		// The filter choices come from every event, not only the filtered ones.
		all, err := v.m.deps.Data.Events(ctx, store.EventFilter{Limit: 5000})
		if err != nil {
			return d, err
		}
		types, sources, rtys, statuses := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, e := range all {
			for _, t := range e.Types {
				types[t] = true
			}
			if e.Source != "" {
				sources[e.Source] = true
			}
			if e.RTY != "" {
				rtys[e.RTY] = true
			}
			if e.Resource != nil && e.Resource.Status != "" {
				statuses[e.Resource.Status] = true
			}
		}
		d.types, d.sources = sortedKeys(types), sortedKeys(sources)
		d.rtys, d.statuses = sortedKeys(rtys), sortedKeys(statuses)
		return d, nil
	}, func(d eventsData, err error) {
		if seq != v.seq {
			return
		}
		if err != nil {
			v.count.SetText("Could not read events: " + err.Error())
			return
		}
		v.events = d.events
		v.typ.Options = append([]string{anyType}, d.types...)
		v.src.Options = append([]string{anySource}, d.sources...)
		v.rty.Options = append([]string{anyResource}, d.rtys...)
		v.resStatus.Options = append([]string{anyResState}, d.statuses...)
		rejected := 0
		for _, e := range d.events {
			if !e.Verified {
				rejected++
			}
		}
		v.count.SetText(fmt.Sprintf("%d events shown, %d rejected", len(d.events), rejected))
		// The selection stays on the same event while new ones arrive above it; when there is
		// none (the first load, or a filter hid it) the newest is selected.
		at := -1
		for i, e := range d.events {
			if e.ID == v.selected {
				at = i
				break
			}
		}
		if at < 0 && len(d.events) > 0 {
			at = 0
		}
		v.list.Refresh()
		switch {
		case at >= 0:
			v.selected = d.events[at].ID
			v.list.Select(at)
			v.showDetail(d.events[at])
		default:
			v.list.UnselectAll()
			v.selected = 0
			v.detail.SetText("No events match. Events arrive from Open Banking sources; add one under Sources.")
		}
	})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
