package app

import (
	"log/slog"
	"os"
	"path/filepath"

	"custody/sync/calllog"
	"custody/sync/datahub"
	"custody/sync/datahub/eloverblik"
	elsync "custody/sync/eloverblik"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/fileimport"
	"custody/sync/logkey"
	"custody/sync/obevents"
)

// drivers returns the sync driver of every source kind Custody knows.
func drivers(env *Env) map[string]engine.Driver {
	m := map[string]engine.Driver{}
	for _, d := range []engine.Driver{
		espi.NewDriver(),
		obevents.NewDriver(),
		datahub.NewDriver(),
		eloverblikDriver(env),
	} {
		m[d.Kind()] = d
	}
	return m
}

// eloverblikDriver is the Eloverblik driver, pacing its token calls by the machine's call log.
func eloverblikDriver(env *Env) *elsync.Driver {
	d := elsync.NewDriver()
	if env.Calls != nil {
		d.Calls = env.Calls
	}
	return d
}

// machineCallLog opens the call log in the user's cache folder (~/.cache/custody/calls.json on
// Linux), shared by every Custody process and database of the user. Without a cache folder it
// returns nil and each database keeps its own record.
func machineCallLog(logger *slog.Logger) *calllog.File {
	dir, err := os.UserCacheDir()
	if err == nil {
		var l *calllog.File
		if l, err = calllog.Open(filepath.Join(dir, "custody", "calls.json")); err == nil {
			return l
		}
	}
	logger.Warn("no machine-wide call log; each database paces its own token calls", logkey.Op, "call log", logkey.Err, err)
	return nil
}

// fileFormats returns every file format `custody import` recognises, in detection order.
func fileFormats() []fileimport.Format {
	return []fileimport.Format{espi.Format(), datahub.XMLFormat(), datahub.JSONFormat(), eloverblik.Format()}
}
