package delivery

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The direct client against real servers on loopback: net/http's for what
// a normal receiver does, raw TCP for what net/http would never send.

func testDirect(t *testing.T) *directClient {
	t.Helper()
	o := Options{AllowNetworks: loopbackNets}
	o.setDefaults()
	d, ok := newSender(&o).(*directClient)
	if !ok {
		t.Fatal("the default sender is not the direct client")
	}
	t.Cleanup(d.CloseIdleConnections)
	return d
}

var loopbackNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// post sends body to rawURL and returns the status and the response body.
func post(t *testing.T, d *directClient, rawURL string, body string) (int, string, error) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := d.Do(ctx, u, http.Header{"Content-Type": {"application/json"}, "X-Test": {"yes"}}, []byte(body))
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// countingServer answers every request with reply, counting connections.
func countingServer(t *testing.T, tlsOn bool, reply func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(reply))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	if tlsOn {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, &conns
}

func TestDirectRequestAndReuse(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			var got []string
			var mu sync.Mutex
			s, conns := countingServer(t, tlsOn, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Test")+" "+r.Header.Get("Content-Type")+" "+string(b))
				mu.Unlock()
				w.Write([]byte("ok"))
			})
			d := testDirect(t)
			if tlsOn {
				d.tls.RootCAs = s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			}
			for i := range 5 {
				st, body, err := post(t, d, s.URL+"/hook?x=1", `{"n":`+string(rune('0'+i))+`}`)
				if err != nil || st != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q %v", i, st, body, err)
				}
			}
			host := strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
			if want := "POST " + host + " /hook?x=1 yes application/json {\"n\":4}"; got[4] != want {
				t.Errorf("server saw %q, want %q", got[4], want)
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("5 requests in a row used %d connections, want 1", n)
			}
		})
	}
}

// A server that closes idle connections between requests: the pooled one
// is found dead before use (or fails before any answer) and a new one
// carries the request, which arrives once.
func TestDirectServerClosedIdle(t *testing.T) {
	var hits atomic.Int64
	s, conns := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	d := testDirect(t)
	for i := range 4 {
		if st, _, err := post(t, d, s.URL, "{}"); err != nil || st != 200 {
			t.Fatalf("request %d: %d %v", i, st, err)
		}
		s.CloseClientConnections()
	}
	if hits.Load() != 4 || conns.Load() != 4 {
		t.Errorf("4 requests, closed after each: %d arrived over %d connections, want 4 and 4", hits.Load(), conns.Load())
	}
}

// Responses that must not leave their connection in the pool: one that
// says Connection: close, and one longer than what is drained.
func TestDirectNotReused(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	s, conns := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/big":
			w.Write([]byte(big))
		}
	})
	d := testDirect(t)
	u, _ := url.Parse(s.URL + "/big")
	resp, err := d.Do(context.Background(), u, http.Header{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, resp.Body, 1000) // not to the end
	resp.Body.Close()
	post(t, d, s.URL+"/close", "")
	post(t, d, s.URL+"/", "")
	if n := conns.Load(); n != 3 {
		t.Errorf("a body left unread and a Connection: close: %d connections for 3 requests, want 3", n)
	}
}

// rawServer answers each connection's first request with the bytes of
// answer.
func rawServer(t *testing.T, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, answer)
				io.Copy(io.Discard, c) // until the client closes
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestDirectInformationalSkipped(t *testing.T) {
	u := rawServer(t, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")
	st, body, err := post(t, testDirect(t), u, "{}")
	if err != nil || st != 202 || body != "ok" {
		t.Fatalf("got %d %q %v, want 202 \"ok\"", st, body, err)
	}
}

func TestDirectHeaderBounded(t *testing.T) {
	u := rawServer(t, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 200<<10)+"\r\n\r\n")
	_, _, err := post(t, testDirect(t), u, "{}")
	if !errors.Is(err, errHeaderTooLarge) {
		t.Fatalf("a 200 KiB header: %v, want errHeaderTooLarge", err)
	}
}

// A hanging server: the exchange ends at the context's deadline, and is
// classified as a timeout; cancelling the context aborts it at once.
func TestDirectDeadlineAndCancel(t *testing.T) {
	release := make(chan struct{})
	s, conns := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/quick" {
			<-release
		}
	})
	defer close(release)
	d := testDirect(t)
	u, _ := url.Parse(s.URL)

	// On a pooled connection (the quick request leaves one), so that the
	// timeout is not mistaken for a closed connection and retried.
	if st, _, err := post(t, d, s.URL+"/quick", "{}"); err != nil || st != 200 {
		t.Fatalf("quick request: %d %v", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := d.Do(ctx, u, http.Header{}, []byte("{}"))
	if out, _ := classify(err, 200*time.Millisecond); out != hookd.OutcomeTimeout {
		t.Errorf("hanging server: %v classified %s, want timeout", err, out)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the timed-out request on the pooled connection was retried: %d connections, want 1", n)
	}

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.Do(ctx, u, http.Header{}, []byte("{}"))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled exchange succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the context did not end the exchange")
	}
}

func TestDirectRefusesLineBreaks(t *testing.T) {
	s, conns := countingServer(t, false, func(http.ResponseWriter, *http.Request) {})
	d := testDirect(t)
	u, _ := url.Parse(s.URL)
	_, err := d.Do(context.Background(), u, http.Header{"X-Evil": {"a\r\nInjected: 1"}}, nil)
	if !errors.Is(err, errBadHeader) {
		t.Errorf("a value with a line break: %v, want errBadHeader", err)
	}
	if conns.Load() > 1 {
		t.Errorf("%d connections", conns.Load())
	}
}
