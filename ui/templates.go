package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{
	"login", "portal", "error", "tenants", "endpoints", "endpoint",
	"secret", "replay", "deliveries", "delivery",
}

func (u *UI) parseTemplates() error {
	funcs := template.FuncMap{
		"link":    u.link,
		"when":    when,
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ms":      ms,
		"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
		"outcome": DescribeOutcome,
		"short":   short,
		"lower":   strings.ToLower,
		"join":    strings.Join,
		"retry":   retrySummary,
		"dur":     human,
	}
	u.pages = make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: parsing template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return nil
}

// when shows a time in UTC, to the second, as the API does.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ms(d int64) string {
	if d < 1000 {
		return fmt.Sprintf("%d ms", d)
	}
	return fmt.Sprintf("%.1f s", float64(d)/1000)
}

// short keeps the end of a long ID, the part that differs between IDs made
// close together being the random tail.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func retrySummary(p hookd.RetryPolicy) string {
	if b := p.Backoff; b != nil {
		s := fmt.Sprintf("backoff from %s ×%g", human(b.Initial), b.Multiplier)
		if b.MaxDelay > 0 {
			s += ", at most " + human(b.MaxDelay) + " apart"
		}
		if b.MaxAge > 0 {
			s += ", for " + human(b.MaxAge)
		}
		if b.MaxAttempts > 0 {
			s += fmt.Sprintf(", %d attempts", b.MaxAttempts)
		}
		return s
	}
	if len(p.Schedule) == 0 {
		return "no retries"
	}
	parts := make([]string, len(p.Schedule))
	for i, d := range p.Schedule {
		parts[i] = human(d)
	}
	return fmt.Sprintf("%d attempts: at once, then after %s", len(p.Schedule)+1, strings.Join(parts, ", "))
}

// human writes a duration as a person would: "5m", "2h30m", not "5m0s".
func human(d hookd.Duration) string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
