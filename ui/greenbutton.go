package ui

import (
	"context"
	"net/url"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// ListenerInfo is the state of a source's notification listener.
type ListenerInfo struct {
	// Configured says the source asks for a listener; Running that it is listening now.
	Configured, Running bool
	// RegisterURL is the exact URL to register with the utility as the Notification URI.
	RegisterURL string
	// Problem is why the listener is not running, when it is known.
	Problem string
}

// GreenButton is what the Sources view asks of Green Button sources. package app implements
// it with the espi driver, the store and the notification listeners.
type GreenButton interface {
	// Connect runs a customer's authorisation (Connect My Data): open is called with the
	// address to open in the browser; it returns when the browser has come back.
	Connect(ctx context.Context, source string, open func(url string)) (string, error)
	// Listener says the source's listener state and the URL to register.
	Listener(ctx context.Context, source string) (ListenerInfo, error)
	// TestNotification POSTs a BatchList to the source's listener over HTTPS and describes
	// the round trip.
	TestNotification(ctx context.Context, source string) (string, error)
	// Authorizations describes what the custodian said about the source's authorizations and
	// the requests it is still preparing.
	Authorizations(ctx context.Context, source string) (string, error)
}

// connectWait bounds a customer's authorisation from the GUI.
const connectWait = 6 * time.Minute

// gbPanel is the Green Button part of the Sources view: the notification listener's URL and
// state, what the custodian says, and the Connect… and Test notification buttons.
type gbPanel struct {
	v       *sourcesView
	parent  *fyne.Container // the column it is in, laid out again when the panel changes
	box     *fyne.Container
	info    *widget.Label
	connect *widget.Button
	testN   *widget.Button
	source  string
}

func newGBPanel(v *sourcesView) *gbPanel {
	p := &gbPanel{v: v}
	p.info = widget.NewLabel("")
	p.info.Wrapping = fyne.TextWrapWord
	p.connect = widget.NewButtonWithIcon("Connect…", theme.LoginIcon(), p.doConnect)
	p.testN = widget.NewButtonWithIcon("Test notification", theme.MailSendIcon(), p.doTestNotification)
	p.box = container.NewVBox(container.NewHBox(p.connect, p.testN), p.info)
	p.box.Hide()
	return p
}

// relayout lays the column out again after the panel changed size.
func (p *gbPanel) relayout() {
	if p.parent != nil {
		p.parent.Refresh()
	}
}

// show updates the panel for the selected source.
func (p *gbPanel) show(s store.Source, ok bool) {
	gb := p.v.m.deps.GreenButton
	if !ok || s.Kind != "greenbutton" || gb == nil {
		p.source = ""
		p.box.Hide()
		p.relayout()
		return
	}
	p.source = s.Name
	p.box.Show()
	if strings.TrimSpace(s.Config["authorize_url"]) != "" {
		p.connect.Show()
	} else {
		p.connect.Hide()
	}
	if strings.TrimSpace(s.Config["notify_listen"]) != "" {
		p.testN.Show()
	} else {
		p.testN.Hide()
	}
	p.info.SetText("")
	p.relayout()
	name := s.Name
	background(p.v.m, func(ctx context.Context) (string, error) {
		var b strings.Builder
		info, err := gb.Listener(ctx, name)
		switch {
		case err != nil:
			b.WriteString("Notification listener: " + err.Error() + "\n")
		case !info.Configured:
			b.WriteString("No notification listener: a custodian that answers 202 (PG&E) delivers only by notification; set a listen address, certificate and key (Edit…).\n")
		default:
			state := "listening"
			if !info.Running {
				state = "not running"
				if info.Problem != "" {
					state += ": " + info.Problem
				}
			}
			b.WriteString("Notification listener: " + state + "\nRegister this Notification URI with the utility: " + info.RegisterURL + "\n")
		}
		if a, err := gb.Authorizations(ctx, name); err == nil && a != "" {
			b.WriteString(a + "\n")
		}
		return strings.TrimSpace(b.String()), nil
	}, func(text string, _ error) {
		if p.source == name {
			p.info.SetText(text)
			p.relayout()
		}
	})
}

func (p *gbPanel) doConnect() {
	gb, name := p.v.m.deps.GreenButton, p.source
	if gb == nil || name == "" {
		return
	}
	p.connect.Disable()
	p.v.result.SetText("Connecting " + name + ": opening the utility's page in your browser…")
	m := p.v.m
	backgroundFor(m, connectWait, func(ctx context.Context) (string, error) {
		return gb.Connect(ctx, name, func(addr string) {
			m.do(func() {
				p.v.result.SetText("Waiting for the utility: sign in and approve access in your browser. If no browser opened, open this address: " + addr)
				if u, err := url.Parse(addr); err == nil && m.App != nil {
					if err := m.App.OpenURL(u); err != nil {
						p.v.result.SetText("Could not open the browser (" + err.Error() + "); open this address yourself: " + addr)
					}
				}
			})
		})
	}, func(msg string, err error) {
		p.connect.Enable()
		if err != nil {
			p.v.result.SetText("Not connected: " + err.Error())
			return
		}
		p.v.result.SetText(msg)
		p.v.reload()
	})
}

func (p *gbPanel) doTestNotification() {
	gb, name := p.v.m.deps.GreenButton, p.source
	if gb == nil || name == "" {
		return
	}
	p.v.result.SetText("Sending a test notification to " + name + "'s listener…")
	background(p.v.m, func(ctx context.Context) (string, error) {
		return gb.TestNotification(ctx, name)
	}, func(msg string, err error) {
		if err != nil {
			p.v.result.SetText("Test notification failed: " + err.Error())
			return
		}
		p.v.result.SetText("Test notification: " + msg)
	})
}
