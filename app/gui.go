package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"custody/assets"
	"custody/store"
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
	st, err := store.Open(ctx, opts.DBPath)
	if err != nil {
		return err
	}
	defer st.Close()

	a := fyneapp.NewWithID(AppID)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.IconPNG))
	w := ui.NewMainWindow(a, ui.Deps{Data: st, DBPath: opts.DBPath, Demo: opts.Demo})
	go func() {
		// An interrupt (Ctrl-C, SIGTERM) closes the app as cleanly as its Quit menu.
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.Window.ShowAndRun()
	return nil
}
