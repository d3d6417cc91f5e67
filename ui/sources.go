package ui

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/settings"
)

// kindTitle names a kind for people, as its description does.
func (m *MainWindow) kindTitle(kind string) string {
	if k, ok := m.kind(kind); ok && k.Title != "" {
		return k.Title
	}
	if kind == "file" {
		return "Imported files"
	}
	return kind
}

// kind returns the description of the named kind.
func (m *MainWindow) kind(name string) (settings.Kind, bool) {
	for _, k := range m.deps.Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return settings.Kind{}, false
}

// sourcesView lists the configured sources and adds, edits, tests and removes them.
type sourcesView struct {
	m       *MainWindow
	root    fyne.CanvasObject
	list    *widget.List
	sources []store.Source
	sel     int
	detail  *widget.Label
	result  *widget.Label
	buttons []*widget.Button
	toggle  *widget.Button
	gb      *gbPanel
}

func newSourcesView(m *MainWindow) *sourcesView {
	v := &sourcesView{m: m, sel: -1}
	v.list = widget.NewList(
		func() int { return len(v.sources) },
		func() fyne.CanvasObject { return widget.NewLabel("name · Green Button (utility) · disabled") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			s := v.sources[i]
			t := s.Name + " · " + m.kindTitle(s.Kind)
			if !s.Enabled {
				t += " · disabled"
			}
			o.(*widget.Label).SetText(t)
		},
	)
	v.detail = widget.NewLabel("")
	v.detail.Wrapping = fyne.TextWrapWord
	v.result = widget.NewLabel("")
	v.result.Wrapping = fyne.TextWrapWord
	v.list.OnSelected = func(i widget.ListItemID) { v.sel = i; v.showSelected() }
	add := widget.NewButtonWithIcon("Add source…", theme.ContentAddIcon(), v.add)
	edit := widget.NewButtonWithIcon("Edit…", theme.DocumentCreateIcon(), func() { v.edit() })
	remove := widget.NewButtonWithIcon("Remove…", theme.DeleteIcon(), v.remove)
	test := widget.NewButtonWithIcon("Test connection", theme.ConfirmIcon(), v.test)
	syncNow := widget.NewButtonWithIcon("Sync now", theme.ViewRefreshIcon(), v.syncNow)
	v.toggle = widget.NewButton("Disable", v.toggleEnabled)
	v.buttons = []*widget.Button{edit, remove, test, syncNow, v.toggle}
	if m.deps.Editor == nil || len(m.deps.Kinds) == 0 {
		add.Disable()
	}
	bar := container.NewHBox(add, edit, remove, v.toggle, test, syncNow)
	v.gb = newGBPanel(v)
	v.gb.parent = container.NewVBox(v.detail, v.gb.box, v.result)
	right := container.NewVScroll(v.gb.parent)
	split := container.NewHSplit(v.list, right)
	split.Offset = 0.35
	v.root = container.NewBorder(bar, nil, nil, nil, split)
	v.showSelected()
	v.reload()
	return v
}

func (v *sourcesView) object() fyne.CanvasObject { return v.root }

func (v *sourcesView) reload() {
	background(v.m, func(ctx context.Context) ([]store.Source, error) {
		return v.m.deps.Data.Sources(ctx)
	}, func(srcs []store.Source, err error) {
		if err != nil {
			v.result.SetText("Could not read the sources: " + err.Error())
			return
		}
		name := ""
		if v.sel >= 0 && v.sel < len(v.sources) {
			name = v.sources[v.sel].Name
		}
		v.sources = srcs
		v.list.UnselectAll()
		v.sel = -1
		v.list.Refresh()
		for i, s := range srcs {
			if s.Name == name || (name == "" && i == 0) {
				v.list.Select(i)
			}
		}
		v.showSelected()
	})
}

func (v *sourcesView) selected() (store.Source, bool) {
	if v.sel < 0 || v.sel >= len(v.sources) {
		return store.Source{}, false
	}
	return v.sources[v.sel], true
}

func (v *sourcesView) showSelected() {
	s, ok := v.selected()
	v.gb.show(s, ok)
	for _, b := range v.buttons {
		if ok && v.m.deps.Editor != nil {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	if !ok {
		if len(v.sources) == 0 {
			v.detail.SetText("No sources yet. Add one to sync your data from a utility, a bank or DataHub, or import files you already have (File > Import, or drop them on the window).")
		} else {
			v.detail.SetText("Select a source.")
		}
		return
	}
	if v.m.deps.Engine == nil {
		for _, b := range v.buttons[2:4] {
			b.Disable()
		}
	}
	if s.Enabled {
		v.toggle.SetText("Disable")
	} else {
		v.toggle.SetText("Enable")
	}
	v.detail.SetText(v.m.sourceDetail(s))
}

// sourceDetail shows a source's settings as its kind describes them; a secret shows only where
// it is kept.
func (m *MainWindow) sourceDetail(s store.Source) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", s.Name, m.kindTitle(s.Kind))
	if s.Enabled {
		b.WriteString("Enabled: syncs on its schedule\n")
	} else {
		b.WriteString("Disabled: does not sync until enabled\n")
	}
	k, ok := m.kind(s.Kind)
	if !ok {
		for _, key := range slices.Sorted(maps.Keys(s.Config)) {
			fmt.Fprintf(&b, "%s: %s\n", key, s.Config[key])
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	for _, sh := range settings.Show(k, s) {
		fmt.Fprintf(&b, "%s: %s\n", sh.Setting.Label, sh.Value)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (v *sourcesView) add() {
	kinds := v.m.deps.Kinds
	titles := make([]string, len(kinds))
	for i, k := range kinds {
		titles[i] = k.Title
	}
	pick := widget.NewRadioGroup(titles, nil)
	if len(titles) > 0 {
		pick.SetSelected(titles[0])
	}
	dialog.ShowCustomConfirm("Add a source", "Next", "Cancel", pick, func(ok bool) {
		if !ok {
			return
		}
		for i, t := range titles {
			if t == pick.Selected {
				v.openForm(store.Source{Kind: kinds[i].Name, Enabled: true, Config: map[string]string{}}, true)
			}
		}
	}, v.m.Window)
}

func (v *sourcesView) edit() {
	if s, ok := v.selected(); ok {
		v.openForm(s, false)
	}
}

// sourceForm is the add/edit form of one source, made from its kind's description: one widget
// a setting, by the setting's Type.
type sourceForm struct {
	v     *sourcesView
	isNew bool
	orig  store.Source
	kind  settings.Kind
	name  *widget.Entry
	// fields read back each setting's value, by flag; secrets are the password entries, by
	// keyring field.
	fields  []formField
	secrets map[string]*widget.Entry
	// advanced folds the advanced settings.
	advanced *widget.Accordion
	errLbl   *widget.Label
	dlg      dialog.Dialog
}

// formField is the widget of one setting and how its value is read back.
type formField struct {
	setting settings.Setting
	object  fyne.CanvasObject // the widget itself (an *widget.Entry, *widget.Check or *widget.Select)
	value   func() []string
}

func (v *sourcesView) openForm(s store.Source, isNew bool) {
	v.newForm(s, isNew).dlg.Show()
}

func (v *sourcesView) newForm(s store.Source, isNew bool) *sourceForm {
	k, ok := v.m.kind(s.Kind)
	if !ok {
		k = settings.Kind{Name: s.Kind, Title: v.m.kindTitle(s.Kind)}
	}
	f := &sourceForm{v: v, isNew: isNew, orig: s, kind: k, secrets: map[string]*widget.Entry{}}
	f.name = widget.NewEntry()
	f.name.SetText(s.Name)
	f.name.SetPlaceHolder("a short name, such as my-utility")
	if !isNew {
		f.name.Disable()
	}
	items := []*widget.FormItem{widget.NewFormItem("Name *", f.name)}
	var advanced []*widget.FormItem
	advancedSet := false
	for _, st := range k.Settings {
		item := f.newItem(st, s)
		if st.Advanced {
			advanced = append(advanced, item)
			advancedSet = advancedSet || settings.Value(st, s) != "" && settings.Value(st, s) != "false"
			continue
		}
		items = append(items, item)
	}
	f.errLbl = widget.NewLabel("")
	f.errLbl.Wrapping = fyne.TextWrapWord
	f.errLbl.Importance = widget.DangerImportance
	body := container.NewVBox(widget.NewForm(items...))
	if len(advanced) > 0 {
		f.advanced = widget.NewAccordion(widget.NewAccordionItem("Advanced", widget.NewForm(advanced...)))
		if advancedSet {
			f.advanced.Open(0)
		}
		body.Add(f.advanced)
	}
	body.Add(widget.NewLabel("* required"))
	title := "Add a " + k.Title + " source"
	if !isNew {
		title = "Edit " + s.Name
	}
	content := container.NewBorder(nil, f.errLbl, nil, nil, container.NewVScroll(body))
	d := dialog.NewCustomWithoutButtons(title, content, v.m.Window)
	save := widget.NewButtonWithIcon("Save", theme.ConfirmIcon(), f.save)
	save.Importance = widget.HighImportance
	cancel := widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), d.Hide)
	d.SetButtons([]fyne.CanvasObject{cancel, save})
	// Wide enough for the longest hint (the API root's example URL) on a laptop's window.
	d.Resize(fyne.NewSize(700, 600))
	f.dlg = d
	return f
}

// newItem makes the form item of one setting: its widget by Type, its label (marked * when
// required) and its hint.
func (f *sourceForm) newItem(st settings.Setting, s store.Source) *widget.FormItem {
	value := settings.Value(st, s)
	var obj fyne.CanvasObject
	var read func() []string
	switch st.Type {
	case settings.Secret:
		e := widget.NewPasswordEntry()
		if f.isNew {
			e.SetPlaceHolder("goes straight to the OS keyring")
		} else {
			e.SetPlaceHolder("stored in the keyring; type to replace it")
		}
		f.secrets[st.Key] = e
		obj = e
		if u, err := url.Parse(st.Link); st.Link != "" && err == nil {
			// Where the secret is made, such as the portal that issues a refresh token.
			obj = container.NewBorder(nil, nil, nil, widget.NewHyperlink("Make one…", u), e)
		}
	case settings.Bool:
		c := widget.NewCheck("", nil)
		c.SetChecked(value == "true")
		obj, read = c, func() []string { return []string{strconv.FormatBool(c.Checked)} }
	case settings.Choice:
		sel := widget.NewSelect(st.Choices, nil)
		switch {
		case value != "":
			sel.SetSelected(value)
		case st.Default != "":
			sel.SetSelected(st.Default)
		case len(st.Choices) > 0:
			sel.SetSelected(st.Choices[0])
		}
		obj, read = sel, func() []string { return []string{sel.Selected} }
	case settings.List:
		e := widget.NewMultiLineEntry()
		e.SetMinRowsVisible(2)
		e.SetText(strings.Join(s.List(st.Key), "\n"))
		e.SetPlaceHolder("one a line")
		obj, read = e, func() []string { return strings.Split(strings.ReplaceAll(e.Text, "\n", ","), ",") }
	default: // Text, URL, File, Duration
		e := widget.NewEntry()
		e.SetText(value)
		switch {
		case st.Default != "":
			e.SetPlaceHolder(st.Default)
		case st.Type == settings.URL:
			e.SetPlaceHolder("https://…")
		case st.Type == settings.File:
			e.SetPlaceHolder("path to a PEM file")
		case st.Type == settings.Duration:
			e.SetPlaceHolder("such as 15m or 6h")
		}
		obj, read = e, func() []string { return []string{strings.TrimSpace(e.Text)} }
	}
	shown := obj
	if st.Type == settings.File {
		e := obj.(*widget.Entry)
		pick := widget.NewButtonWithIcon("", theme.FolderOpenIcon(), func() { f.v.pickFile(e) })
		shown = container.NewBorder(nil, nil, nil, pick, e)
	}
	if read != nil {
		f.fields = append(f.fields, formField{setting: st, object: obj, value: read})
	}
	label := st.Label
	if st.Required {
		label += " *"
	}
	item := widget.NewFormItem(label, shown)
	item.HintText = st.Hint
	return item
}

// field returns the widget of the setting with the given flag, for tests.
func (f *sourceForm) field(flag string) fyne.CanvasObject {
	for _, fl := range f.fields {
		if fl.setting.Flag == flag {
			return fl.object
		}
	}
	return nil
}

// pickFile fills e with the path of a file the user picks.
func (v *sourcesView) pickFile(e *widget.Entry) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		e.SetText(path)
	}, v.m.Window)
	d.Show()
}

// build checks the form with settings.Build (a new source) or settings.Apply (an edited one),
// the functions `custody sources add` and `edit` use, so both say the same.
func (f *sourceForm) build() (store.Source, error) {
	src, _, err := f.buildKeep()
	return src, err
}

// buildKeep is build that also returns what goes to the keyring: the secrets typed and the
// files the kind imports (an Open Banking signing key), by field, checked by the kind.
func (f *sourceForm) buildKeep() (store.Source, map[string]string, error) {
	given := settings.Values{}
	for _, fl := range f.fields {
		given[fl.setting.Flag] = fl.value()
	}
	name := strings.TrimSpace(f.name.Text)
	var src store.Source
	var err error
	if f.isNew {
		src, err = settings.Build(f.kind, name, given)
	} else {
		src, err = settings.Apply(f.kind, f.orig, given)
	}
	if err != nil {
		return src, nil, err
	}
	keep, err := settings.Imports(f.kind, given)
	if err != nil {
		return src, nil, err
	}
	imported := maps.Clone(keep)
	for _, st := range f.kind.Secrets() {
		if e := f.secrets[st.Key]; e != nil && e.Text != "" {
			keep[st.Key] = e.Text
		} else if f.isNew && st.Needed(src, imported) {
			return src, nil, fmt.Errorf("give the %s; it goes to the OS keyring and is never shown again", strings.ToLower(st.Label))
		}
	}
	if f.kind.CheckSecrets != nil {
		if err := f.kind.CheckSecrets(src, keep); err != nil {
			return src, nil, err
		}
	}
	if f.kind.CheckSecret != nil {
		// The kind checks a secret given and reads what is not secret in it (such as when a
		// refresh token expires), stored with the source.
		for _, st := range f.kind.Secrets() {
			if e := f.secrets[st.Key]; e != nil && e.Text != "" {
				derived, err := f.kind.CheckSecret(st.Key, e.Text)
				if err != nil {
					return src, nil, fmt.Errorf("%s: %w", strings.ToLower(st.Label), err)
				}
				maps.Copy(src.Config, derived)
			}
		}
	}
	if f.isNew {
		for _, s := range f.v.sources {
			if s.Name == name {
				return src, nil, fmt.Errorf("a source named %q already exists; choose another name", name)
			}
		}
	}
	return src, keep, nil
}

// save stores the source and its secrets, off the UI goroutine, in the order that cannot lose
// a working secret: a new source's secrets first (removed again if the source cannot be
// added), an edited source's settings first (a failed update leaves the keyring untouched),
// then its secrets all or none, the settings put back if the secrets cannot be stored.
func (f *sourceForm) save() {
	src, secrets, err := f.buildKeep()
	if err != nil {
		f.errLbl.SetText(err.Error())
		return
	}
	for _, e := range f.secrets {
		e.SetText("") // a secret is never kept in the form
	}
	f.errLbl.SetText("Saving…")
	m := f.v.m
	orig := f.orig
	background(m, func(ctx context.Context) (struct{}, error) {
		if len(secrets) > 0 && m.deps.Secrets == nil {
			return struct{}{}, fmt.Errorf("the OS keyring is not available")
		}
		err := f.persist(ctx, src, orig, secrets)
		if err == nil && m.deps.Engine != nil {
			err = m.deps.Engine.Reload(ctx)
		}
		return struct{}{}, err
	}, func(_ struct{}, err error) {
		if err != nil {
			f.errLbl.SetText(err.Error())
			return
		}
		f.dlg.Hide()
		f.v.result.SetText("Saved " + src.Name + ".")
		f.v.sel = -1
		f.v.sources = append(f.v.sources, src) // so reload selects it
		f.v.sel = len(f.v.sources) - 1
		m.Refresh()
	})
}

// persist writes src (orig is the source before the edit) and its secrets; see save.
func (f *sourceForm) persist(ctx context.Context, src, orig store.Source, secrets map[string]string) error {
	deps := f.v.m.deps
	if f.isNew {
		if len(secrets) > 0 {
			if err := deps.Secrets.ReplaceSecrets(src.Name, secrets); err != nil {
				return fmt.Errorf("the keyring refused the secret: %w", err)
			}
		}
		if err := deps.Editor.AddSource(ctx, &src); err != nil {
			for key := range secrets {
				_ = deps.Secrets.DeleteSecret(src.Name, key)
			}
			return err
		}
		return nil
	}
	if err := deps.Editor.UpdateSource(ctx, &src); err != nil {
		return err
	}
	if len(secrets) == 0 {
		return nil
	}
	if err := deps.Secrets.ReplaceSecrets(src.Name, secrets); err != nil {
		if rerr := deps.Editor.UpdateSource(context.WithoutCancel(ctx), &orig); rerr != nil {
			return fmt.Errorf("the keyring refused the secret: %w; and the source's earlier settings could not be put back: %v", err, rerr)
		}
		return fmt.Errorf("the keyring refused the secret: %w; the source is unchanged", err)
	}
	return nil
}

func (v *sourcesView) remove() {
	s, ok := v.selected()
	if !ok {
		return
	}
	dialog.ShowConfirm("Remove "+s.Name+"?",
		"The source and its secrets in the keyring are removed, and what it registered at the bank is deleted there. The data it brought in stays.",
		func(yes bool) {
			if yes {
				v.removeConfirmed(s)
			}
		}, v.m.Window)
}

// removeConfirmed removes a source the user confirmed: what it registered at the bank first,
// then the source and its secret, saying what happened at the bank.
func (v *sourcesView) removeConfirmed(s store.Source) {
	background(v.m, func(ctx context.Context) (string, error) {
		// At the bank first; the source is removed here whatever the bank says.
		said := ""
		if v.m.deps.Engine != nil {
			msg, err := v.m.deps.Engine.Unregister(ctx, s.Name)
			switch {
			case err != nil:
				said = " Its registration at the bank could not be deleted: " + err.Error()
			case msg != "":
				said = " " + strings.ToUpper(msg[:1]) + msg[1:] + "."
			}
		}
		if err := v.m.deps.Editor.RemoveSource(ctx, s.Name); err != nil {
			return said, err
		}
		if v.m.deps.Secrets != nil {
			// Every field the kind keeps in the keyring: its secrets and imported files.
			for _, k := range v.m.deps.Kinds {
				if k.Name != s.Kind {
					continue
				}
				for _, st := range k.Settings {
					field := st.Import
					if st.Type == settings.Secret {
						field = st.Key
					}
					if field != "" && field != v.m.deps.SecretField {
						_ = v.m.deps.Secrets.DeleteSecret(s.Name, field) // absent ones are no error
					}
				}
			}
			if err := v.m.deps.Secrets.DeleteSecret(s.Name, v.m.deps.SecretField); err != nil {
				return said, fmt.Errorf("the source is removed but its secret could not be deleted from the keyring: %w", err)
			}
		}
		if v.m.deps.Engine != nil {
			return said, v.m.deps.Engine.Reload(ctx)
		}
		return said, nil
	}, func(said string, err error) {
		if err != nil {
			v.result.SetText("Could not remove " + s.Name + ": " + err.Error() + said)
			return
		}
		v.result.SetText("Removed " + s.Name + "." + said)
		v.m.Refresh()
	})
}

func (v *sourcesView) toggleEnabled() {
	s, ok := v.selected()
	if !ok {
		return
	}
	s.Enabled = !s.Enabled
	background(v.m, func(ctx context.Context) (struct{}, error) {
		if err := v.m.deps.Editor.UpdateSource(ctx, &s); err != nil {
			return struct{}{}, err
		}
		if v.m.deps.Engine != nil {
			return struct{}{}, v.m.deps.Engine.Reload(ctx)
		}
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		if err != nil {
			v.result.SetText("Could not change " + s.Name + ": " + err.Error())
			return
		}
		v.m.Refresh()
	})
}

func (v *sourcesView) test() {
	s, ok := v.selected()
	if !ok || v.m.deps.Engine == nil {
		return
	}
	v.result.SetText("Testing " + s.Name + "…")
	background(v.m, func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return v.m.deps.Engine.Test(ctx, s.Name)
	}, func(msg string, err error) {
		if err != nil {
			v.result.SetText("Test failed: " + s.Name + " could not connect: " + err.Error())
			return
		}
		v.result.SetText("Test passed: " + s.Name + ": " + msg)
	})
}

func (v *sourcesView) syncNow() {
	if s, ok := v.selected(); ok && v.m.deps.Engine != nil {
		v.m.deps.Engine.SyncNow(s.Name)
		v.result.SetText("Syncing " + s.Name + " now; see Activity for progress.")
	}
}
