package ui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// messagesView lists DataHub documents and lets the user request measure data.
type messagesView struct {
	m      *MainWindow
	root   fyne.CanvasObject
	list   *widget.List
	msgs   []store.Message
	detail *widget.Label
	count  *widget.Label
	seq    int

	// The request form.
	reqSource *widget.Select
	reqKind   *widget.Select
	reqPoint  *widget.Entry
	reqArea   *widget.Entry
	reqFrom   *widget.Entry
	reqTo     *widget.Entry
	reqReason *widget.Select
	reqSender *widget.Entry
	reqRole   *widget.Select
	reqSend   *widget.Button
	reqBar    *widget.ProgressBarInfinite
	reqStatus *widget.Label
	reqBox    *fyne.Container
	senders   map[string]bool // DataHub sources with their own sender GLN
	waiting   string          // the correlation id of the request awaiting its answer
	waitSrc   string
}

func newMessagesView(m *MainWindow) *messagesView {
	v := &messagesView{m: m}
	v.count = widget.NewLabel("")
	v.list = widget.NewList(
		func() int { return len(v.msgs) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("NotifyValidatedMeasureData_MarketDocument 2024-01-01 00:00 1234 readings")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(messageLine(v.msgs[i])) },
	)
	v.detail = widget.NewLabel("Select a document to see it.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.detail.Selectable = true
	v.list.OnSelected = func(i widget.ListItemID) {
		if i < len(v.msgs) {
			v.detail.SetText(messageDetail(v.msgs[i]))
		}
	}

	v.reqSource = widget.NewSelect(nil, nil)
	v.reqPoint = widget.NewEntry()
	v.reqPoint.SetPlaceHolder("18-digit metering point id (GSRN)")
	v.reqFrom = widget.NewEntry()
	v.reqFrom.SetPlaceHolder("YYYY-MM-DD")
	v.reqTo = widget.NewEntry()
	v.reqTo.SetPlaceHolder("YYYY-MM-DD")
	v.reqArea = widget.NewEntry()
	v.reqArea.SetPlaceHolder("3-digit grid area, such as 804")
	v.reqReason = widget.NewSelect(reasonsValidated, nil)
	v.reqReason.SetSelectedIndex(0)
	v.reqKind = widget.NewSelect([]string{askValidated, askAggregated, askWholesale}, func(k string) {
		// What to ask for decides which of metering point and grid area counts, and the processes.
		if k == askValidated {
			v.reqPoint.Enable()
			v.reqArea.Disable()
			v.reqReason.Options = reasonsValidated
		} else {
			v.reqPoint.Disable()
			v.reqArea.Enable()
			v.reqReason.Options = reasonsSettlement
		}
		v.reqReason.SetSelectedIndex(0)
	})
	v.reqKind.SetSelected(askValidated)
	prefs := m.App.Preferences()
	v.reqSender = widget.NewEntry()
	v.reqSender.SetPlaceHolder("your GLN or EIC (empty: the source's)")
	v.reqSender.SetText(prefs.String(prefDataHubSender))
	v.reqRole = widget.NewSelect([]string{"DDQ", "DDM", "MDR", "DDK"}, nil)
	v.reqRole.SetSelected(prefs.StringWithFallback(prefDataHubRole, "DDQ"))
	v.reqBar = widget.NewProgressBarInfinite()
	v.reqBar.Stop()
	v.reqBar.Hide()
	v.reqStatus = widget.NewLabel("")
	v.reqStatus.Wrapping = fyne.TextWrapWord
	v.reqSend = widget.NewButton("Send the request", v.send)
	form := widget.NewForm(
		widget.NewFormItem("DataHub source", v.reqSource),
		widget.NewFormItem("Ask for", v.reqKind),
		widget.NewFormItem("Metering point", v.reqPoint),
		widget.NewFormItem("Grid area", v.reqArea),
		widget.NewFormItem("From", v.reqFrom),
		widget.NewFormItem("To", v.reqTo),
		widget.NewFormItem("Reason", v.reqReason),
		widget.NewFormItem("Your GLN", v.reqSender),
		widget.NewFormItem("Your role", v.reqRole),
	)
	request := container.NewVBox(widget.NewLabelWithStyle("Request data from DataHub", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		form, v.reqSend, v.reqBar, v.reqStatus)
	v.reqBox = request
	right := container.NewVSplit(container.NewVScroll(v.detail), container.NewVScroll(request))
	right.Offset = 0.3
	split := container.NewHSplit(container.NewBorder(v.count, nil, nil, nil, v.list), right)
	split.Offset = 0.5
	v.root = split
	v.reload()
	return v
}

func (v *messagesView) object() fyne.CanvasObject { return v.root }

// What the request form can ask DataHub for.
const (
	askValidated  = "Validated measure data of a metering point"
	askAggregated = "Aggregated data of a grid area"
	askWholesale  = "Wholesale settlement of a grid area"
)

// The processes each kind of request may name: the code first, as DataHub knows it.
var (
	reasonsValidated  = []string{"E23 periodic metering", "D04 historical data"}
	reasonsSettlement = []string{"D04 balance fixing", "D05 wholesale fixing", "D32 D01 first correction",
		"D32 D02 second correction", "D32 D03 third correction", "D03 preliminary aggregation"}
)

func messageLine(m store.Message) string {
	s := fmt.Sprintf("%s  %s", m.Received.Local().Format("2006-01-02 15:04"), strings.TrimSuffix(m.Type, "_MarketDocument"))
	if m.Readings > 0 {
		s += fmt.Sprintf("  %d readings", m.Readings)
	}
	if m.Error != "" {
		s += "  (could not be read)"
	}
	return s
}

func messageDetail(m store.Message) string {
	var b strings.Builder
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
	field("Type", m.Type)
	field("Message id", m.MessageID)
	field("Source", m.Source)
	field("Created", tm(m.Created))
	field("Received", tm(m.Received))
	field("Correlation", m.Correlation)
	field("Sender", m.Sender)
	field("Receiver", m.Receiver)
	field("Business reason", m.BusinessReason)
	fmt.Fprintf(&b, "Readings stored: %d\n", m.Readings)
	for _, r := range m.Reasons {
		field("Reason", strings.TrimSpace(r.Code+" "+r.Text))
	}
	if m.Error != "" {
		fmt.Fprintf(&b, "Could not be read: %s\n(the document is kept in the archive and can be reprocessed)\n", m.Error)
	}
	keys := make([]string, 0, len(m.Attrs))
	for k := range m.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field(k, m.Attrs[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

type messagesData struct {
	msgs    []store.Message
	sources []string
	// senders are the DataHub sources that name their actor's GLN (sync/datahub's
	// SettingSenderGLN), so that the form may leave it empty.
	senders map[string]bool
}

func (v *messagesView) reload() {
	v.seq++
	seq := v.seq
	background(v.m, func(ctx context.Context) (messagesData, error) {
		var d messagesData
		var err error
		if d.msgs, err = v.m.deps.Data.Messages(ctx, store.MessageFilter{Limit: 2000}); err != nil {
			return d, err
		}
		srcs, err := v.m.deps.Data.Sources(ctx)
		d.senders = map[string]bool{}
		for _, s := range srcs {
			if s.Kind == "datahub" {
				d.sources = append(d.sources, s.Name)
				d.senders[s.Name] = s.Config["sender_gln"] != ""
			}
		}
		return d, err
	}, func(d messagesData, err error) {
		if seq != v.seq {
			return
		}
		if err != nil {
			v.count.SetText("Could not read messages: " + err.Error())
			return
		}
		v.msgs = d.msgs
		v.senders = d.senders
		failed := 0
		for _, m := range d.msgs {
			if m.Error != "" {
				failed++
			}
		}
		v.count.SetText(fmt.Sprintf("%d DataHub documents, %d could not be read", len(d.msgs), failed))
		v.reqSource.Options = d.sources
		if v.reqSource.Selected == "" && len(d.sources) > 0 {
			v.reqSource.SetSelected(d.sources[0])
		}
		v.reqSource.Refresh()
		v.list.UnselectAll()
		v.list.Refresh()
		if len(d.msgs) > 0 {
			v.list.Select(0)
		}
		if v.m.deps.DataHub == nil {
			v.reqSend.Disable()
			v.reqStatus.SetText("Requests to DataHub are not available in this build.")
		} else if len(d.sources) == 0 {
			v.reqSend.Disable()
			v.reqStatus.SetText("Add a DataHub source under Sources to request data.")
		} else if v.waiting == "" {
			v.reqSend.Enable()
		}
		v.checkPending()
	})
}

// send validates the form and sends the request off the UI goroutine.
func (v *messagesView) send() {
	src, point, area := v.reqSource.Selected, strings.TrimSpace(v.reqPoint.Text), strings.TrimSpace(v.reqArea.Text)
	kind := map[string]string{askValidated: "validated", askAggregated: "aggregated", askWholesale: "wholesale"}[v.reqKind.Selected]
	// DataHub's days are Danish days: a period runs from Danish midnight to Danish midnight.
	dk, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		dk = time.FixedZone("CET", 3600)
	}
	from, err1 := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v.reqFrom.Text), dk)
	to, err2 := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v.reqTo.Text), dk)
	switch {
	case src == "":
		v.reqStatus.SetText("Choose the DataHub source to ask.")
		return
	case kind == "validated" && (len(point) != 18 || strings.Trim(point, "0123456789") != ""):
		v.reqStatus.SetText("A metering point id is 18 digits.")
		return
	case kind != "validated" && (len(area) != 3 || strings.Trim(area, "0123456789") != ""):
		v.reqStatus.SetText("A grid area is 3 digits, such as 804.")
		return
	case err1 != nil || err2 != nil:
		v.reqStatus.SetText("Give the period as dates such as 2024-01-31.")
		return
	case !to.After(from):
		v.reqStatus.SetText("The end of the period must come after its start.")
		return
	}
	sender := strings.TrimSpace(v.reqSender.Text)
	if sender == "" && !v.senders[src] {
		v.reqStatus.SetText("Give your GLN (13 digits) or EIC: DataHub answers only the party that asks. (Or set it once on the source: Sources → Edit → Your GLN.)")
		return
	}
	v.m.App.Preferences().SetString(prefDataHubSender, sender)
	v.m.App.Preferences().SetString(prefDataHubRole, v.reqRole.Selected)
	codes := strings.Fields(v.reqReason.Selected)
	req := DataHubRequest{Kind: kind, From: from, To: to, BusinessReason: codes[0], Sender: sender, Role: v.reqRole.Selected}
	if kind == "validated" {
		req.MeteringPoint = point
	} else {
		req.GridArea = area
		if codes[0] == "D32" {
			req.SettlementVersion = codes[1]
		}
	}
	v.reqSend.Disable()
	v.reqBar.Show()
	v.reqBar.Start()
	v.reqBox.Refresh()
	v.reqStatus.SetText("Sending the request to DataHub…")
	background(v.m, func(ctx context.Context) (string, error) {
		return v.m.deps.DataHub.RequestMeasureData(ctx, src, req)
	}, func(corr string, err error) {
		if err != nil {
			v.reqBar.Stop()
			v.reqBar.Hide()
			v.reqBox.Refresh()
			v.reqSend.Enable()
			v.reqStatus.SetText("DataHub did not take the request: " + err.Error())
			return
		}
		v.waiting, v.waitSrc = corr, src
		v.reqStatus.SetText("DataHub accepted the request (correlation " + corr + "). Waiting for the answer; it arrives with the next sync of " + src + "…")
		if v.m.deps.Engine != nil {
			v.m.deps.Engine.SyncNow(src)
		}
	})
}

// checkPending looks for the answer to the request awaiting one.
func (v *messagesView) checkPending() {
	corr := v.waiting
	if corr == "" {
		return
	}
	background(v.m, func(ctx context.Context) ([]store.Message, error) {
		return v.m.deps.Data.Messages(ctx, store.MessageFilter{Correlation: corr})
	}, func(ms []store.Message, err error) {
		if err != nil || len(ms) == 0 || v.waiting != corr {
			return
		}
		v.waiting = ""
		v.reqBar.Stop()
		v.reqBar.Hide()
		v.reqBox.Refresh()
		v.reqSend.Enable()
		a := ms[0]
		text := fmt.Sprintf("The answer arrived: %s with %d readings.", strings.TrimSuffix(a.Type, "_MarketDocument"), a.Readings)
		if a.Error != "" {
			text = "The answer arrived but could not be read: " + a.Error
		}
		for _, r := range a.Reasons {
			text += " DataHub says: " + strings.TrimSpace(r.Code+" "+r.Text) + "."
		}
		v.reqStatus.SetText(text)
		v.m.Refresh()
	})
}
