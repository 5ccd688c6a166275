package hookdtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/hookdtest"
)

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-Test", "yes")
	return c.Do(req)
}

func TestReceiverRecordsAndScripts(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.Respond(
		hookdtest.Response{Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: "later"},
		hookdtest.Response{Status: 302, Header: http.Header{"Location": {"https://elsewhere.example/"}}},
	)
	r.SetDefault(hookdtest.Response{Status: 204})
	c := r.Client()
	want := []struct {
		status int
		header string
		body   string
	}{{503, "7", "later"}, {302, "https://elsewhere.example/", ""}, {204, "", ""}, {204, "", ""}}
	for i, w := range want {
		resp, err := post(t, c, r.URL+"/hooks?x=1", "body-"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("Retry-After") + resp.Header.Get("Location")
		if resp.StatusCode != w.status || got != w.header || string(b) != w.body {
			t.Errorf("answer %d: %d %q %q, want %d %q %q", i, resp.StatusCode, got, b, w.status, w.header, w.body)
		}
	}
	reqs := r.Wait(4)
	if len(reqs) != 4 || r.Count() != 4 {
		t.Fatalf("recorded %d, count %d", len(reqs), r.Count())
	}
	for i, q := range reqs {
		if q.N != i+1 || q.Method != "POST" || q.Path != "/hooks" || q.RawQuery != "x=1" ||
			q.Header.Get("X-Test") != "yes" || string(q.Body) != "body-"+string(rune('a'+i)) || q.At.IsZero() {
			t.Errorf("request %d recorded as %+v", i, q)
		}
	}
}

func TestReceiverHandleAndWaitContext(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.Handle(func(q *hookdtest.Request) hookdtest.Response {
		if strings.Contains(string(q.Body), "bad") {
			return hookdtest.Response{Status: 400}
		}
		return hookdtest.Response{Status: 200}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.WaitContext(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext with nothing sent: %v", err)
	}
	var wg sync.WaitGroup
	for _, b := range []string{"good", "bad", "good"} {
		wg.Go(func() {
			resp, err := post(t, r.Client(), r.URL, b)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if want := map[string]int{"good": 200, "bad": 400}[b]; resp.StatusCode != want {
				t.Errorf("%s: %d, want %d", b, resp.StatusCode, want)
			}
		})
	}
	r.Wait(3)
	wg.Wait()
}

func TestReceiverDelayHangReset(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.Respond(
		hookdtest.Response{Delay: 50 * time.Millisecond},
		hookdtest.Response{Hang: true},
		hookdtest.Response{Reset: true},
	)
	c := r.Client()

	start := time.Now()
	resp, err := post(t, c, r.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("delayed answer came after %s", d)
	}

	c.Timeout = 100 * time.Millisecond
	start = time.Now()
	if _, err := post(t, c, r.URL, ""); err == nil || !strings.Contains(err.Error(), "Client.Timeout") {
		t.Errorf("hang: %v, want a client timeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("hanging receiver answered after %s", d)
	}

	c.Timeout = 0
	_, err = post(t, c, r.URL, "")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("reset: %v, want connection reset", err)
	}
	if n := r.Count(); n != 3 {
		t.Errorf("count %d, want 3", n)
	}
}

// Closing a receiver with a hanging request does not block.
func TestReceiverCloseReleasesHang(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, err := post(t, r.Client(), r.URL, "")
		errc <- err
	}()
	r.Wait(1)
	r.Close()
	if err := <-errc; err == nil {
		t.Error("request to a closed hanging receiver succeeded")
	}
}

func TestTLSReceivers(t *testing.T) {
	trusted := hookdtest.NewTLSReceiver(t)
	if !strings.HasPrefix(trusted.URL, "https://") || trusted.CertPool() == nil {
		t.Fatalf("TLS receiver %s, pool %v", trusted.URL, trusted.CertPool())
	}
	resp, err := post(t, trusted.Client(), trusted.URL, "x")
	if err != nil {
		t.Fatalf("trusted TLS receiver: %v", err)
	}
	resp.Body.Close()

	untrusted := hookdtest.NewUntrustedTLSReceiver(t)
	if untrusted.CertPool() != nil {
		t.Fatal("untrusted receiver exports its pool")
	}
	// Even a client trusting the other receiver fails: every receiver has
	// its own certificate.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trusted.CertPool()}}}
	_, err = post(t, c, untrusted.URL, "x")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("untrusted receiver: %v, want an unknown authority", err)
	}
	if n := untrusted.Count(); n != 0 {
		t.Errorf("untrusted receiver recorded %d requests", n)
	}
}

func TestClosedURL(t *testing.T) {
	_, err := http.Post(hookdtest.ClosedURL(t), "text/plain", nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("closed port: %v, want connection refused", err)
	}
}

func TestCountOnly(t *testing.T) {
	r := hookdtest.New(t, hookdtest.Options{CountOnly: true})
	for range 3 {
		resp, err := post(t, r.Client(), r.URL, "x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if reqs := r.Wait(3); reqs != nil || r.Count() != 3 || len(r.Requests()) != 0 {
		t.Errorf("count-only receiver: wait %v, count %d, requests %d", reqs, r.Count(), len(r.Requests()))
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := hookdtest.NewClock(start)
	a, _ := c.NewTimer(time.Second)
	b, stopB := c.NewTimer(2 * time.Second)
	now, _ := c.NewTimer(0)
	select {
	case <-now:
	default:
		t.Fatal("a timer of 0 did not fire at once")
	}
	if got := c.Pending(); len(got) != 2 || !got[0].Equal(start.Add(time.Second)) {
		t.Fatalf("pending %v", got)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if at := <-a; !at.Equal(start.Add(time.Second)) {
		t.Errorf("fired with %v", at)
	}
	if !stopB() || stopB() {
		t.Error("Stop does not report the pending timer once")
	}
	c.Advance(time.Hour)
	select {
	case <-b:
		t.Error("a stopped timer fired")
	default:
	}
	c.Set(start) // never backwards
	if !c.Now().Equal(start.Add(time.Hour + time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
}

func TestConcurrency(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Hang: true})
	for range 3 {
		go func() {
			resp, err := http.Post(r.URL, "text/plain", nil)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	r.Wait(3)
	if now, peak := r.Concurrency(); now != 3 || peak != 3 {
		t.Fatalf("concurrency %d, peak %d; want 3, 3", now, peak)
	}
	r.Close()
	if now, peak := r.Concurrency(); now != 0 || peak != 3 {
		t.Fatalf("after close: concurrency %d, peak %d; want 0, 3", now, peak)
	}
}
