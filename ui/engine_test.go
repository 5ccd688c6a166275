package ui

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// startEngine runs the real delivery engine on s, allowed to reach the
// loopback receivers of the test, until the test ends. onRecord sees every
// batch of attempts once it is committed.
func startEngine(t *testing.T, s hookd.Store, onRecord func([]hookd.AttemptRecord)) hookd.Engine {
	t.Helper()
	e := delivery.New(s, delivery.Options{
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		OnRecord:      onRecord,
	})
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("starting the engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stopping the engine: %v", err)
		}
	})
	return e
}
