package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
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
	v.count = widget.NewLabel("")
	v.list = widget.NewList(
		func() int { return len(v.events) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("✓ 2024-01-01 00:00 resource-update account 1234567890")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(eventLine(v.events[i]))
		},
	)
	v.detail = widget.NewLabel("Select an event to see its claims.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.detail.Selectable = true
	v.list.OnSelected = func(i widget.ListItemID) {
		if i < len(v.events) {
			v.detail.SetText(eventDetail(v.events[i]))
		}
	}
	filters := container.NewGridWithColumns(4, v.typ, v.src, v.status, v.search)
	split := container.NewHSplit(v.list, container.NewVScroll(v.detail))
	split.Offset = 0.45
	v.root = container.NewBorder(container.NewVBox(filters, v.count), nil, nil, nil, split)
	v.reload()
	return v
}

func (v *eventsView) object() fyne.CanvasObject { return v.root }

// shortType is the last part of an event type URN, such as resource-update.
func shortType(urn string) string {
	if i := strings.LastIndexAny(urn, ":/"); i >= 0 && i < len(urn)-1 {
		return urn[i+1:]
	}
	return urn
}

func eventLine(e store.Event) string {
	mark := "verified"
	if !e.Verified {
		mark = "REJECTED"
	}
	when := e.TOE
	if when.IsZero() {
		when = e.Received
	}
	var types []string
	for _, t := range e.Types {
		types = append(types, shortType(t))
	}
	s := fmt.Sprintf("%s %s  %s", mark, when.Local().Format("2006-01-02 15:04"), strings.Join(types, ", "))
	if e.RTY != "" || e.RID != "" {
		s += "  " + strings.TrimSpace(e.RTY+" "+e.RID)
	}
	if e.Source != "" {
		s += "  · " + e.Source
	}
	return s
}

func eventDetail(e store.Event) string {
	var b strings.Builder
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
	events  []store.Event
	types   []string
	sources []string
}

func (v *eventsView) reload() {
	f := store.EventFilter{Search: strings.TrimSpace(v.search.Text), Limit: 2000}
	if v.typ.Selected != anyType {
		f.Type = v.typ.Selected
	}
	if v.src.Selected != anySource {
		f.Source = v.src.Selected
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
		types, sources := map[string]bool{}, map[string]bool{}
		for _, e := range all {
			for _, t := range e.Types {
				types[t] = true
			}
			if e.Source != "" {
				sources[e.Source] = true
			}
		}
		d.types, d.sources = sortedKeys(types), sortedKeys(sources)
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
		rejected := 0
		for _, e := range d.events {
			if !e.Verified {
				rejected++
			}
		}
		v.count.SetText(fmt.Sprintf("%d events shown, %d rejected", len(d.events), rejected))
		v.list.UnselectAll()
		v.list.Refresh()
		if len(d.events) > 0 {
			v.list.Select(0)
		} else {
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
