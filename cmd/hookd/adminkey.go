package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hookd/hookd"
)

// ensureAdminKey makes sure the store holds an admin key.
//
// With key set (--admin-key), a key with that hash is inserted unless it
// already exists; the key is never printed. Without it, a key is generated
// only when the store has no admin key yet, and returned so that the
// caller prints it: only its hash is stored, so it can never be shown
// again, and later starts find the stored one and generate nothing.
func ensureAdminKey(ctx context.Context, s hookd.Store, key string, now time.Time) (generated string, err error) {
	if key != "" {
		hash := hookd.HashAPIKey(key)
		existing, err := s.APIKeyGetByHash(ctx, hash)
		switch {
		case err == nil:
			if !slices.Contains(existing.Scopes, hookd.ScopeAdmin) || existing.Tenant != "" {
				return "", fmt.Errorf("--admin-key: the store holds this key as %q without admin scope over every tenant; pick another key", existing.Name)
			}
			return "", nil
		case hookd.ErrorCode(err) != hookd.ENOTFOUND:
			return "", fmt.Errorf("look up admin key: %w", err)
		}
		if err := insertAdminKey(ctx, s, "admin (--admin-key)", key, hash, now); err != nil {
			return "", err
		}
		return "", nil
	}
	has, err := hasAdminKey(ctx, s, now)
	if err != nil || has {
		return "", err
	}
	key, hash := hookd.NewAPIKeySecret()
	if err := insertAdminKey(ctx, s, "admin (generated on first start)", key, hash, now); err != nil {
		return "", err
	}
	return key, nil
}

func insertAdminKey(ctx context.Context, s hookd.Store, name, key string, hash []byte, now time.Time) error {
	k := &hookd.APIKey{
		ID:        hookd.NewID(hookd.PrefixAPIKey),
		Name:      name,
		Scopes:    []string{hookd.ScopeAdmin},
		Prefix:    hookd.APIKeyPrefix(key),
		Hash:      hash,
		CreatedAt: now.UTC(),
	}
	err := s.APIKeyInsert(ctx, k)
	if hookd.ErrorCode(err) == hookd.EDUPLICATE {
		// Another node sharing the database inserted the same key first.
		return nil
	}
	if err != nil {
		return fmt.Errorf("store admin key: %w", err)
	}
	return nil
}

// hasAdminKey reports whether the store holds a live admin key that sees
// every tenant.
func hasAdminKey(ctx context.Context, s hookd.Store, now time.Time) (bool, error) {
	p := hookd.ListParams{Limit: hookd.MaxLimit}
	for {
		keys, next, err := s.APIKeyList(ctx, p)
		if err != nil {
			return false, fmt.Errorf("list API keys: %w", err)
		}
		for _, k := range keys {
			live := k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
			if live && k.Tenant == "" && slices.Contains(k.Scopes, hookd.ScopeAdmin) {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		p.Cursor = next
	}
}
