package hookdtest

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// Logger returns a logger that writes records at level and above to tb's
// log, so a server's warnings show beside the test that caused them. A
// fuzz target may not log from inside its function, so for a *testing.F
// the records go to standard error instead.
func Logger(tb testing.TB, level slog.Level) *slog.Logger {
	var w io.Writer = testWriter{tb}
	if _, fuzzing := tb.(*testing.F); fuzzing {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
