package app

import (
	"maps"
	"slices"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/engine"
	"custody/ui"
)

// The UI talks to the engine through ui.Engine; the type checker holds the engine to it.
var _ ui.Engine = (*engine.Engine)(nil)

// envSecrets reads secrets from whatever store env.Secrets holds at the time of the call, so
// that an engine made before the demo swaps in its in-memory store still finds the demo's
// credentials.
type envSecrets struct{ env *Env }

func (s envSecrets) Secret(source, field string) (string, error) {
	return s.env.Secrets.Secret(source, field)
}

// SetSecret stores a secret a driver renews (a Connect My Data source's rotated tokens).
func (s envSecrets) SetSecret(source, field, value string) error {
	return s.env.Secrets.SetSecret(source, field, value)
}

// DeleteSecret forgets a secret (the GUI's Sources form, for a source it could not add).
func (s envSecrets) DeleteSecret(source, field string) error {
	return s.env.Secrets.DeleteSecret(source, field)
}

// ReplaceSecrets stores a source's secrets, all or none (secrets.Replace): the GUI's Sources
// form saves through it.
func (s envSecrets) ReplaceSecrets(source string, values map[string]string) error {
	return secrets.Replace(s.env.Secrets, source, slices.Sorted(maps.Keys(values)), values)
}

// newEngine wires the sync engine: the store, every driver, the secrets and the logger.
func newEngine(env *Env, st *store.Store) *engine.Engine {
	return engine.New(engineConfig(env, st))
}

// engineConfig is the engine configuration of a real run.
func engineConfig(env *Env, st *store.Store) engine.Config {
	return engine.Config{
		Store:   st,
		Drivers: env.Drivers,
		Secrets: envSecrets{env},
		Logger:  env.Logger,
	}
}
