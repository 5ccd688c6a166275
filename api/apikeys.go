package api

import (
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd"
)

// apiKeyBody creates an API key.
type apiKeyBody struct {
	// Name says what the key is for.
	Name string `json:"name"`
	// Scopes are what the key may do; admin implies every other.
	Scopes []string `json:"scopes"`
	// Tenant, when set, restricts the key to that tenant's objects.
	Tenant string `json:"tenant,omitempty"`
	// ExpiresAt, when set, ends the key's validity.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// apiKeyWithSecret answers a create: the key's record and, this once, the
// key itself.
type apiKeyWithSecret struct {
	*hookd.APIKey
	Key string `json:"key"`
}

const maxKeyName = 200

// validateGrant checks what an API key and an OAuth client both carry: a
// name, the scopes they grant, and the tenant they may be bound to.
func validateGrant(v *hookd.Validation, name string, scopes []string, tenant string) {
	if name == "" || len(name) > maxKeyName || !utf8.ValidString(name) {
		v.Add("name", "is required, at most %d bytes", maxKeyName)
	}
	if len(scopes) == 0 {
		v.Add("scopes", "must name at least one scope")
	}
	for _, s := range scopes {
		if !hookd.ValidScope(s) {
			v.Add("scopes", "%q is not a scope; scopes are %v", truncate(s, 64), hookd.AllScopes)
			break
		}
	}
	if tenant != "" && !hookd.ValidTenantID(tenant) {
		v.Add("tenant", "must match [A-Za-z0-9_.-]{1,64}")
	}
}

func createAPIKey(c *call) error {
	var b apiKeyBody
	if err := c.decode(&b, c.s.maxBody); err != nil {
		return err
	}
	now := c.s.now().UTC()
	var v hookd.Validation
	validateGrant(&v, b.Name, b.Scopes, b.Tenant)
	if b.ExpiresAt != nil && !b.ExpiresAt.After(now) {
		v.Add("expires_at", "must be in the future")
	}
	if err := v.Err(); err != nil {
		return err
	}
	scopes := slices.Clone(b.Scopes)
	slices.Sort(scopes)
	key, hash := hookd.NewAPIKeySecret()
	k := &hookd.APIKey{
		ID: hookd.NewID(hookd.PrefixAPIKey), Name: b.Name, Tenant: b.Tenant, Scopes: slices.Compact(scopes),
		Prefix: hookd.APIKeyPrefix(key), Hash: hash, CreatedAt: now,
	}
	if b.ExpiresAt != nil {
		k.ExpiresAt = b.ExpiresAt.UTC()
	}
	if err := c.s.store.APIKeyInsert(c.r.Context(), k); err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/api-keys/"+k.ID)
	return c.respond(http.StatusCreated, apiKeyWithSecret{APIKey: k, Key: key})
}

func listAPIKeys(c *call) error {
	ks, next, err := c.s.store.APIKeyList(c.r.Context(), c.q.ListParams)
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(ks, next))
}

func deleteAPIKey(c *call) error {
	id := c.r.PathValue("id")
	if err := c.s.store.APIKeyDelete(c.r.Context(), id); err != nil {
		return err
	}
	c.s.keys.forget(id)
	return c.noContent()
}

func listTenants(c *call) error {
	ts, next, err := c.s.store.TenantList(c.r.Context(), c.q.ListParams)
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(ts, next))
}
