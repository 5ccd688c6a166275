package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/oauth"
	"github.com/hookd/hookd/ui"
)

// signingKeyName names the dashboard's signing key among the store's
// server secrets.
const signingKeyName = "ui-signing-key"

// signingKey returns the key that signs dashboard sessions, portal links
// and OAuth consent forms: --signing-key when given, else the one the
// store keeps, made at the first start by whichever node gets there
// first. Either way it survives restarts and every node sharing the
// database has the same, so sessions and links work on all of them.
func signingKey(ctx context.Context, st hookd.Store, flag string) ([]byte, error) {
	if flag != "" {
		return []byte(flag), nil
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	key, err := st.ServerSecretGetOrCreate(ctx, signingKeyName, fresh)
	if err != nil {
		return nil, fmt.Errorf("dashboard signing key: %w", err)
	}
	return key, nil
}

// web is what serve mounts beside the API: the dashboard and the OAuth
// server, whose consent page lives under the dashboard's path.
type web struct {
	dashboard *ui.UI
	oauth     *oauth.Server
}

func newWeb(ctx context.Context, st hookd.Store, engine hookd.Engine, log *slog.Logger, flagKey string) (*web, error) {
	key, err := signingKey(ctx, st, flagKey)
	if err != nil {
		return nil, err
	}
	dashboard, err := ui.New(ui.Config{Store: st, Engine: engine, Logger: log, SigningKey: key})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	auth, err := oauth.New(oauth.Config{Store: st, Logger: log, Dashboard: dashboard, SigningKey: key})
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return &web{dashboard: dashboard, oauth: auth}, nil
}

// mount serves the dashboard at /ui/ (and / sends browsers there) and
// the consent page at /ui/oauth/authorize, which the longer pattern
// takes from the dashboard.
func (w *web) mount(mux *http.ServeMux) {
	mux.HandleFunc("/ui/oauth/authorize", w.oauth.ServeAuthorize)
	mux.Handle("/ui/", w.dashboard)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
}
