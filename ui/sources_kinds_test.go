package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/settings"
)

// TestSourceFormOfANewKind: a kind known only to this test (two settings, as its driver would
// describe them) gets its own form, with a widget a setting, and is saved, with nothing in
// package ui knowing it.
func TestSourceFormOfANewKind(t *testing.T) {
	fake := settings.Kind{Name: "fakewatt", Title: "Fake Watt", Settings: []settings.Setting{
		{Key: "meter_id", Flag: "meter-id", Label: "Meter id", Type: settings.Text, Required: true, Hint: "the meter's id on the bill"},
		{Key: "region", Flag: "region", Label: "Region", Type: settings.Choice, Choices: []string{"north", "south"}, Default: "north", Advanced: true},
	}}
	h := newHarness(t, 0)
	h.m.deps.Kinds = append(h.m.deps.Kinds, fake) // the one registration line
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)

	// The add dialog offers it.
	v.add()
	var offered bool
	for _, o := range test.LaidOutObjects(h.m.Window.Canvas().Overlays().Top()) {
		if r, ok := o.(*widget.RadioGroup); ok && strings.Contains(strings.Join(r.Options, "|"), "Fake Watt") {
			offered = true
		}
	}
	h.m.Window.Canvas().Overlays().Top().Hide()
	if !offered {
		t.Fatal("the add dialog does not offer the new kind")
	}

	f := v.newForm(store.Source{Kind: "fakewatt", Config: map[string]string{}}, true)
	f.dlg.Show()
	meter, ok := f.field("meter-id").(*widget.Entry)
	if !ok {
		t.Fatalf("meter id widget: %T", f.field("meter-id"))
	}
	region, ok := f.field("region").(*widget.Select)
	if !ok || region.Selected != "north" || f.advanced == nil {
		t.Fatalf("region widget: %T, advanced %v", f.field("region"), f.advanced)
	}
	// The form shows its label, marked required, and its hint; the advanced one is folded.
	var texts []string
	for _, o := range test.LaidOutObjects(h.m.Window.Canvas().Overlays().Top()) {
		switch o := o.(type) {
		case *widget.Label:
			texts = append(texts, o.Text)
		case *canvas.Text:
			texts = append(texts, o.Text)
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"Add a Fake Watt source", "Meter id *", "the meter's id on the bill", "Advanced"} {
		if !strings.Contains(all, want) {
			t.Errorf("the form lacks %q: %s", want, all)
		}
	}
	if f.advanced.Items[0].Open {
		t.Error("the advanced settings are not folded")
	}
	f.name.SetText("home")
	f.save()
	if f.errLbl.Text != "a fakewatt source needs --meter-id" {
		t.Fatalf("required: %q", f.errLbl.Text)
	}
	meter.SetText("M-1")
	region.SetSelected("south")
	f.save()
	h.m.Wait()
	src, err := h.st.SourceByName(context.Background(), "home")
	if err != nil || src.Kind != "fakewatt" || len(src.Config) != 2 || src.Config["meter_id"] != "M-1" || src.Config["region"] != "south" {
		t.Fatalf("stored: %+v, %v", src, err)
	}
	if d := h.m.sourceDetail(src); !strings.Contains(d, "home — Fake Watt") || !strings.Contains(d, "Meter id: M-1") || !strings.Contains(d, "Region: south") {
		t.Fatalf("detail:\n%s", d)
	}
}
