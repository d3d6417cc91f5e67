package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/driver/desktop"

	"custody/assets"
	"custody/store"
	"custody/sync/datahub"
	"custody/sync/engine"
	"custody/sync/fileimport"
	"custody/sync/logkey"
	"custody/sync/syncerr"
	"custody/ui"
)

// guiOptions are the settings of one GUI session.
type guiOptions struct {
	DBPath string
	Demo   bool
}

// runGUI opens the store and runs the window until the user quits.
func runGUI(ctx context.Context, env *Env, opts guiOptions) error {
	if opts.Demo {
		dir, err := os.MkdirTemp("", "custody-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(dir)
		opts.DBPath = filepath.Join(dir, "demo.db")
	}
	st, err := env.open(ctx, opts.DBPath, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if opts.Demo {
		// The simulators of every custodian, one source of each, and an in-memory keyring.
		stop, err := startDemo(ctx, env, st)
		if err != nil {
			return err
		}
		defer stop()
	}
	eng := newEngine(env, st)
	engCtx, stopEngine := context.WithCancel(ctx)
	defer func() {
		stopEngine()
		eng.Stop()
	}()

	// Pushed notifications (a BatchList, an Open Banking event) arrive while the app is open,
	// as they do under `custody sync`, for the sources that ask for a listener; an edit of the
	// sources starts or stops them. A listener that cannot start (its port taken, say) is
	// logged and shown on the source; the app and polling go on without it.
	listeners := newListenerManager(engCtx, env, st)
	listeners.onAuthorization = eng.SyncNow
	listeners.Sync(ctx)
	defer listeners.Close()

	a := fyneapp.NewWithID(AppID)
	icon := fyne.NewStaticResource("icon.png", assets.IconPNG)
	a.SetIcon(icon)
	deps := guiDeps(env, st, opts)
	deps.Engine = guiEngine{Engine: eng, listeners: listeners}
	deps.GreenButton = guiGreenButton{env: env, st: st, listeners: listeners}
	m := ui.NewMainWindow(a, deps)
	w := m.Window
	w.SetMaster()

	// The tray: show the window, sync now, quit. Closing the window hides it to the tray only
	// when the user asked for that (not every Linux desktop shows a tray).
	desk, hasTray := a.(desktop.App)
	if hasTray {
		show := fyne.NewMenuItem("Show Custody", func() { w.Show(); w.RequestFocus() })
		syncNow := fyne.NewMenuItem("Sync now", m.SyncNow)
		desk.SetSystemTrayMenu(fyne.NewMenu("Custody", show, syncNow))
		desk.SetSystemTrayIcon(icon)
		desk.SetSystemTrayWindow(w)
	}
	w.SetCloseIntercept(func() { m.RequestClose(hasTray) })
	a.Lifecycle().SetOnStarted(func() {
		// Subscribe first so that no status of the first syncs is missed; the engine reads
		// the store as it starts, so that happens off the UI goroutine.
		m.StartEngineUpdates()
		go func() {
			if err := eng.Start(engCtx); err != nil {
				env.Logger.Error("start the sync engine", logkey.Op, "engine.start", logkey.Err, err)
			}
		}()
		m.CheckCredentials()
	})
	a.Lifecycle().SetOnStopped(func() {
		m.Close()
		stopEngine()
	})
	go func() {
		// An interrupt (Ctrl-C, SIGTERM) closes the app as cleanly as its Quit menu.
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	if hasTray && m.Settings().StartMinimised() {
		a.Run()
	} else {
		w.ShowAndRun()
	}
	return nil
}

// guiDeps wires the store, the keyring (in demo mode the demo's in-memory store), the importer,
// the exporter and DataHub requests into the UI. runGUI adds the engine.
func guiDeps(env *Env, st *store.Store, opts guiOptions) ui.Deps {
	return ui.Deps{
		Data:        st,
		Editor:      st,
		Secrets:     envSecrets{env},
		SecretField: SecretField,
		Kinds:       kinds(env),
		Import:      guiImporter{st: st, formats: env.Formats},
		Export:      guiExporter{st: st},
		DataHub:     guiDataHub{env: env, st: st},
		DBPath:      opts.DBPath,
		Demo:        opts.Demo,
		OpenDemo:    openDemo(opts),
	}
}

// openDemo starts `custody --demo` as a process of its own, beside this window: the demo's
// throwaway database and simulators never touch the user's data. In the demo itself there is
// nothing to open.
func openDemo(opts guiOptions) func() error {
	if opts.Demo {
		return nil
	}
	return func() error {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this program: %w", err)
		}
		cmd := exec.Command(exe, "--demo")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the demo: %w", err)
		}
		go cmd.Wait() // reap it when the user closes it
		return nil
	}
}

// guiImporter imports files for the UI with the same importer as `custody import`.
type guiImporter struct {
	st      *store.Store
	formats []fileimport.Format
}

// Import imports one file, reporting progress.
func (g guiImporter) Import(ctx context.Context, path string, progress func(read, size int64)) (fileimport.Summary, error) {
	im := &fileimport.Importer{Store: g.st, Formats: g.formats, Progress: func(_ string, read, size int64) { progress(read, size) }}
	return im.Import(ctx, path)
}

// guiExporter writes the CSV of `custody export` for the UI's save dialog.
type guiExporter struct{ st *store.Store }

// ExportCSV writes every reading in the CSV contract to w.
func (g guiExporter) ExportCSV(ctx context.Context, w io.Writer) error {
	return exportCSV(ctx, w, g.st, store.ExportFilter{})
}

// Export writes the readings the request selects in its format, exactly as `custody export`
// with the same flags would.
func (g guiExporter) Export(ctx context.Context, w io.Writer, req ui.ExportRequest) error {
	switch req.Format {
	case "csv", "json", "parquet":
	default:
		return fmt.Errorf("export: unknown format %q", req.Format)
	}
	return exportTo(ctx, req.Format, w, g.st, store.ExportFilter{From: req.From, To: req.To, Meter: req.Meter, Series: req.Series})
}

// guiDataHub sends the UI's measure-data requests through the same flow as `custody request`
// (datahub.Driver.SendRequest): recorded before it is sent, sent again once with the same ids
// when the answer was lost, the outcome recorded.
type guiDataHub struct {
	env *Env
	st  *store.Store
}

// RequestMeasureData sends the form's request — RSM-015 validated measure data of a metering
// point, RSM-016 aggregated data or RSM-017 wholesale settlement of a grid area — and returns
// DataHub's CorrelationId; the answer arrives in a queue with the next sync.
func (g guiDataHub) RequestMeasureData(ctx context.Context, source string, r ui.DataHubRequest) (string, error) {
	src, err := g.st.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	if src.Kind != "datahub" {
		return "", fmt.Errorf("%s is a %s source; requests go to DataHub sources", source, src.Kind)
	}
	kind := r.Kind
	if kind == "" {
		kind = datahub.RequestValidated
	}
	req := datahub.Request{Kind: kind, Sender: r.Sender, SenderRole: r.Role, ProcessType: r.BusinessReason,
		Start: r.From, End: r.To, MeteringPoint: r.MeteringPoint, GridArea: r.GridArea, SettlementVersion: r.SettlementVersion}
	drv, ok := g.env.Drivers["datahub"].(*datahub.Driver)
	if !ok {
		drv = datahub.NewDriver()
	}
	gctx, job, done := engine.Guard(ctx, g.env.job(g.st, src, nil))
	sent, err := drv.SendRequest(gctx, job, &req, "",
		map[string]string{"from": r.From.Format(time.DateOnly), "to": r.To.Format(time.DateOnly), "metering_point": req.MeteringPoint,
			"grid_area": req.GridArea, "settlement_version": req.SettlementVersion})
	if err != nil {
		_, err = done("", err)
		return "", fmt.Errorf("%w (%s)", err, syncerr.Advice(err))
	}
	corr := sent.Correlation
	if corr == "" {
		corr = req.MessageID
	}
	return corr, nil
}
