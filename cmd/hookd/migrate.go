package main

import "fmt"

// migrateCmd applies the store's migrations and exits, for deployments
// that migrate in a separate step before starting new nodes. serve applies
// them too, so a single node never needs it.
type migrateCmd struct {
	DatabaseFlags
}

func (c *migrateCmd) Run(env *runEnv) error {
	st, err := openStore(env.ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	if err := st.Migrate(env.ctx); err != nil {
		st.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	_, err = fmt.Fprintln(env.stdout, "migrations applied")
	return err
}
