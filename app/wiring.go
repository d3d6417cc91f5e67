package app

import (
	"custody/sync/datahub"
	"custody/sync/datahub/eloverblik"
	elsync "custody/sync/eloverblik"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/fileimport"
	"custody/sync/obevents"
)

// drivers returns the sync driver of every source kind Custody knows.
func drivers(env *Env) map[string]engine.Driver {
	m := map[string]engine.Driver{}
	for _, d := range []engine.Driver{
		espi.NewDriver(),
		obevents.NewDriver(),
		datahub.NewDriver(),
		elsync.NewDriver(),
	} {
		m[d.Kind()] = d
	}
	return m
}

// fileFormats returns every file format `custody import` recognises, in detection order.
func fileFormats() []fileimport.Format {
	return []fileimport.Format{espi.Format(), datahub.XMLFormat(), datahub.JSONFormat(), eloverblik.Format()}
}
