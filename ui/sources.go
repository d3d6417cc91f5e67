package ui

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// sourceKinds are the kinds of source the Sources view can add.
var sourceKinds = []string{"greenbutton", "obevents", "datahub"}

// kindNames name the kinds for people.
var kindNames = map[string]string{
	"greenbutton": "Green Button (utility)",
	"obevents":    "Open Banking events (bank)",
	"datahub":     "DataHub (Energinet)",
	"file":        "Imported files",
}

// sourceField is one setting of a source form, named as the CLI flag.
type sourceField struct {
	flag, label, hint string
	list              bool // several values, comma separated
	file              bool // a file picked with a dialog
	choices           []string
	check             string // a check box, ticked when the setting has this value
}

// sourceFields lists the settings of each kind, in form order.
var sourceFields = map[string][]sourceField{
	"greenbutton": {
		{flag: "base-url", label: "API root", hint: "https://utility.example/DataCustodian/espi/1_1/resource"},
		{flag: "token-url", label: "Token URL", hint: "https://utility.example/oauth/token"},
		{flag: "client-id", label: "Client id"},
		{flag: "bulk-id", label: "Bulk ids", hint: "comma separated", list: true},
		{flag: "subscription-id", label: "Subscription ids", hint: "comma separated", list: true},
		{flag: "scope", label: "Scope", hint: "optional"},
		{flag: "cert", label: "Client certificate", file: true},
		{flag: "key", label: "Client key", file: true},
		{flag: "ca", label: "Extra CA", file: true},
	},
	"obevents": {
		{flag: "base-url", label: "Event API root", hint: "https://bank.example/open-banking/v3.1"},
		{flag: "token-url", label: "Token URL"},
		{flag: "client-id", label: "Client id"},
		{flag: "jwks-url", label: "Bank JWKS URL"},
		{flag: "issuer", label: "Token issuer"},
		{flag: "audience", label: "Audience"},
		{flag: "scope", label: "Scope", hint: "eventpolling"},
		{flag: "cert", label: "Client certificate", file: true},
		{flag: "key", label: "Client key", file: true},
		{flag: "ca", label: "Directory CA", file: true},
		{flag: "org-id", label: "Bank organisation id", hint: "optional, checked in each event"},
		{flag: "algs", label: "Signing algorithms", hint: "PS256, ES256 (RS256 if the bank needs it)"},
		{flag: "error-codes", label: "Error codes", choices: []string{"rfc", "draft"}},
		{flag: "max-events", label: "Events per poll", hint: "10"},
		{flag: "event-types", label: "Event types", hint: "all; or UK.OBIE.Resource-Update, …", list: true},
		{flag: "callback-url", label: "Callback URL", hint: "optional: https://…/event-notifications"},
		{flag: "no-subscription", label: "Polling only", check: "none"},
		{flag: "follow", label: "Fetch event resources", check: "true"},
		{flag: "jti-window", label: "Event id window", hint: "720h"},
	},
	"datahub": {
		{flag: "base-url", label: "DataHub host", hint: "https://api.datahub.example"},
		{flag: "token-url", label: "Token URL", hint: "https://login.microsoftonline.com/…/oauth2/v2.0/token"},
		{flag: "client-id", label: "Client id"},
		{flag: "scope", label: "Scope", hint: "{app-id}/.default"},
		{flag: "queue", label: "Queues", hint: "timeseries, aggregations", list: true},
		{flag: "format", label: "Format", choices: []string{"xml", "json"}},
		{flag: "ca", label: "Extra CA", file: true},
	},
}

// commonFields are the settings every kind has.
var commonFields = []sourceField{
	{flag: "interval", label: "Sync every", hint: "default for the kind, such as 15m or 6h"},
	{flag: "secret-expires", label: "Secret expires", hint: "YYYY-MM-DD, to be reminded in time"},
}

// configKey is the store's config key of a flag (base-url → base_url; lists have their own).
func configKey(flag string) string {
	switch flag {
	case "bulk-id":
		return "bulk_ids"
	case "subscription-id":
		return "subscription_ids"
	case "queue":
		return "queues"
	case "no-subscription":
		return "subscription"
	}
	return strings.ReplaceAll(flag, "-", "_")
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
			t := s.Name + " · " + kindNames[s.Kind]
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
	if m.deps.Editor == nil {
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
	v.detail.SetText(sourceDetail(s))
}

func sourceDetail(s store.Source) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", s.Name, kindNames[s.Kind])
	if s.Enabled {
		b.WriteString("Enabled: syncs on its schedule\n")
	} else {
		b.WriteString("Disabled: does not sync until enabled\n")
	}
	keys := make([]string, 0, len(s.Config))
	for k := range s.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := s.Config[k]
		if l := s.List(k); strings.HasPrefix(val, "[") && len(l) > 0 {
			val = strings.Join(l, ", ")
		}
		fmt.Fprintf(&b, "%s: %s\n", k, val)
	}
	b.WriteString("Client secret: kept in the OS keyring (never shown)")
	return b.String()
}

func (v *sourcesView) add() {
	kinds := make([]string, len(sourceKinds))
	for i, k := range sourceKinds {
		kinds[i] = kindNames[k]
	}
	pick := widget.NewRadioGroup(kinds, nil)
	pick.SetSelected(kinds[0])
	dialog.ShowCustomConfirm("Add a source", "Next", "Cancel", pick, func(ok bool) {
		if !ok {
			return
		}
		for i, k := range kinds {
			if k == pick.Selected {
				v.openForm(store.Source{Kind: sourceKinds[i], Enabled: true, Config: map[string]string{}}, true)
			}
		}
	}, v.m.Window)
}

func (v *sourcesView) edit() {
	if s, ok := v.selected(); ok {
		v.openForm(s, false)
	}
}

// sourceForm is the add/edit form of one source.
type sourceForm struct {
	v       *sourcesView
	isNew   bool
	orig    store.Source
	name    *widget.Entry
	secret  *widget.Entry
	entries map[string]*widget.Entry
	selects map[string]*widget.Select
	checks  map[string]*widget.Check
	errLbl  *widget.Label
	dlg     dialog.Dialog
}

func (v *sourcesView) openForm(s store.Source, isNew bool) {
	f := v.newForm(s, isNew)
	f.dlg.Resize(fyne.NewSize(620, 600))
	f.dlg.Show()
}

func (v *sourcesView) newForm(s store.Source, isNew bool) *sourceForm {
	f := &sourceForm{v: v, isNew: isNew, orig: s, entries: map[string]*widget.Entry{}, selects: map[string]*widget.Select{}, checks: map[string]*widget.Check{}}
	f.name = widget.NewEntry()
	f.name.SetText(s.Name)
	f.name.SetPlaceHolder("a short name, such as my-utility")
	if !isNew {
		f.name.Disable()
	}
	f.secret = widget.NewPasswordEntry()
	if isNew {
		f.secret.SetPlaceHolder("goes straight to the OS keyring")
	} else {
		f.secret.SetPlaceHolder("stored in the keyring; type to replace it")
	}
	items := []*widget.FormItem{widget.NewFormItem("Name", f.name)}
	for _, fd := range append(append([]sourceField{}, sourceFields[s.Kind]...), commonFields...) {
		value := s.Config[configKey(fd.flag)]
		if fd.list {
			value = strings.Join(s.List(configKey(fd.flag)), ", ")
		}
		if fd.check != "" {
			c := widget.NewCheck("", nil)
			c.SetChecked(value == fd.check)
			f.checks[fd.flag] = c
			items = append(items, widget.NewFormItem(fd.label, c))
			continue
		}
		if fd.choices != nil {
			sel := widget.NewSelect(fd.choices, nil)
			sel.SetSelected(value)
			if value == "" {
				sel.SetSelected(fd.choices[0])
			}
			f.selects[fd.flag] = sel
			items = append(items, widget.NewFormItem(fd.label, sel))
			continue
		}
		e := widget.NewEntry()
		e.SetText(value)
		e.SetPlaceHolder(fd.hint)
		f.entries[fd.flag] = e
		var obj fyne.CanvasObject = e
		if fd.file {
			e.SetPlaceHolder("path to a PEM file")
			pick := widget.NewButtonWithIcon("", theme.FolderOpenIcon(), func() { v.pickFile(e) })
			obj = container.NewBorder(nil, nil, nil, pick, e)
		}
		items = append(items, widget.NewFormItem(fd.label, obj))
		if fd.flag == "client-id" {
			items = append(items, widget.NewFormItem("Client secret", f.secret))
		}
	}
	f.errLbl = widget.NewLabel("")
	f.errLbl.Wrapping = fyne.TextWrapWord
	f.errLbl.Importance = widget.DangerImportance
	form := widget.NewForm(items...)
	title := "Add a " + kindNames[s.Kind] + " source"
	if !isNew {
		title = "Edit " + s.Name
	}
	content := container.NewBorder(nil, f.errLbl, nil, nil, container.NewVScroll(form))
	d := dialog.NewCustomWithoutButtons(title, content, v.m.Window)
	save := widget.NewButtonWithIcon("Save", theme.ConfirmIcon(), f.save)
	save.Importance = widget.HighImportance
	cancel := widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), d.Hide)
	d.SetButtons([]fyne.CanvasObject{cancel, save})
	f.dlg = d
	return f
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

// build validates the form with the same rules as `custody sources add`.
func (f *sourceForm) build() (store.Source, error) {
	get := func(flag string) string {
		if s, ok := f.selects[flag]; ok {
			return s.Selected
		}
		if c, ok := f.checks[flag]; ok {
			return strconv.FormatBool(c.Checked)
		}
		if e, ok := f.entries[flag]; ok {
			return strings.TrimSpace(e.Text)
		}
		return ""
	}
	list := func(flag string) []string {
		var out []string
		for _, p := range strings.Split(get(flag), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	name := strings.TrimSpace(f.name.Text)
	if f.v.m.deps.Validate == nil {
		return store.Source{}, fmt.Errorf("sources cannot be edited in this session")
	}
	src, err := f.v.m.deps.Validate(f.orig.Kind, name, get, list)
	if err != nil {
		return src, err
	}
	if f.isNew && f.secret.Text == "" {
		return src, fmt.Errorf("give the client secret; it goes to the OS keyring and is never shown again")
	}
	if f.isNew {
		for _, s := range f.v.sources {
			if s.Name == name {
				return src, fmt.Errorf("a source named %q already exists; choose another name", name)
			}
		}
	} else {
		src.ID, src.Enabled, src.Created = f.orig.ID, f.orig.Enabled, f.orig.Created
	}
	return src, nil
}

// save stores the secret in the keyring first, then the source; off the UI goroutine.
func (f *sourceForm) save() {
	src, err := f.build()
	if err != nil {
		f.errLbl.SetText(err.Error())
		return
	}
	secret := f.secret.Text
	f.secret.SetText("") // the secret is never kept in the form
	f.errLbl.SetText("Saving…")
	m := f.v.m
	background(m, func(ctx context.Context) (struct{}, error) {
		if secret != "" {
			if m.deps.Secrets == nil {
				return struct{}{}, fmt.Errorf("the OS keyring is not available")
			}
			if err := m.deps.Secrets.SetSecret(src.Name, m.deps.SecretField, secret); err != nil {
				return struct{}{}, fmt.Errorf("the keyring refused the secret: %w", err)
			}
		}
		var err error
		if f.isNew {
			err = m.deps.Editor.AddSource(ctx, &src)
		} else {
			err = m.deps.Editor.UpdateSource(ctx, &src)
		}
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

func (v *sourcesView) remove() {
	s, ok := v.selected()
	if !ok {
		return
	}
	dialog.ShowConfirm("Remove "+s.Name+"?",
		"The source and its secrets in the keyring are removed. The data it brought in stays.",
		func(yes bool) {
			if !yes {
				return
			}
			background(v.m, func(ctx context.Context) (struct{}, error) {
				if err := v.m.deps.Editor.RemoveSource(ctx, s.Name); err != nil {
					return struct{}{}, err
				}
				if v.m.deps.Secrets != nil {
					if err := v.m.deps.Secrets.DeleteSecret(s.Name, v.m.deps.SecretField); err != nil {
						return struct{}{}, fmt.Errorf("the source is removed but its secret could not be deleted from the keyring: %w", err)
					}
				}
				if v.m.deps.Engine != nil {
					return struct{}{}, v.m.deps.Engine.Reload(ctx)
				}
				return struct{}{}, nil
			}, func(_ struct{}, err error) {
				if err != nil {
					v.result.SetText("Could not remove " + s.Name + ": " + err.Error())
					return
				}
				v.result.SetText("Removed " + s.Name + ".")
				v.m.Refresh()
			})
		}, v.m.Window)
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
