// Package hookdtest provides test helpers for code that sends or receives
// hookd's webhooks, in the manner of net/http/httptest: a scriptable
// receiver (plain HTTP or TLS, with a certificate the client trusts or not),
// an address where nothing listens, and a fake clock for the delivery
// engine's timers.
//
// A Receiver records every request (headers, body, arrival time) and answers
// each one as scripted: a status with headers such as Retry-After or
// Location, after a delay, never (it hangs until the client gives up), or by
// resetting the connection. Tests block on Wait until N requests arrived
// instead of sleeping, so they are as fast as the code under test and never
// flaky on a slow machine.
package hookdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is one request a Receiver got.
type Request struct {
	N          int // 1 for the first request the receiver got
	Method     string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       []byte
	At         time.Time // arrival, before the body was read
	RemoteAddr string
}

// Response scripts the answer to one request. The zero value answers 200
// with an empty body.
type Response struct {
	Status int         // 0 means 200
	Header http.Header // e.g. Retry-After, Location
	Body   string
	// Delay waits this long before answering (or before Hang or Reset).
	Delay time.Duration
	// Hang never answers: the handler waits until the client gives up
	// (its timeout) or the receiver is closed.
	Hang bool
	// Reset drops the connection without an answer, with a TCP reset.
	Reset bool
}

// Options configure New.
type Options struct {
	// TLS serves HTTPS with a certificate made for this receiver alone,
	// valid for 127.0.0.1, ::1 and localhost.
	TLS bool
	// Untrusted (with TLS) keeps the certificate to the receiver:
	// CertPool returns nil, so no client can trust it.
	Untrusted bool
	// CountOnly records no requests, only their number, for benchmarks
	// that send millions; Wait then returns nil.
	CountOnly bool
	// MaxBody bounds the recorded body (default 10 MiB); the rest is
	// read and discarded.
	MaxBody int64
	// Timeout bounds Wait (default 10s).
	Timeout time.Duration
}

// Receiver is an HTTP server that records requests and answers as told.
// Its methods are safe for concurrent use.
type Receiver struct {
	// URL is the base URL, such as http://127.0.0.1:41234; any path works.
	URL string

	tb      testing.TB
	srv     *httptest.Server
	opts    Options
	pool    *x509.CertPool
	closing chan struct{}

	mu       sync.Mutex
	n        int
	active   int // requests being answered
	peak     int // most requests answered at once
	reqs     []*Request
	changed  chan struct{} // closed and replaced at each arrival
	script   []Response
	handle   func(*Request) Response
	fallback Response
}

// NewReceiver starts a plain HTTP receiver on 127.0.0.1, closed when the
// test ends.
func NewReceiver(tb testing.TB) *Receiver { return New(tb, Options{}) }

// NewTLSReceiver starts an HTTPS receiver whose certificate CertPool
// trusts.
func NewTLSReceiver(tb testing.TB) *Receiver { return New(tb, Options{TLS: true}) }

// NewUntrustedTLSReceiver starts an HTTPS receiver with a fresh
// self-signed certificate that nothing trusts, so every client fails its
// handshake with a certificate error.
func NewUntrustedTLSReceiver(tb testing.TB) *Receiver {
	return New(tb, Options{TLS: true, Untrusted: true})
}

// New starts a receiver configured by opts, closed when the test ends.
func New(tb testing.TB, opts Options) *Receiver {
	tb.Helper()
	if opts.MaxBody <= 0 {
		opts.MaxBody = 10 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	r := &Receiver{tb: tb, opts: opts, closing: make(chan struct{}), changed: make(chan struct{})}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// Handshake failures are what some tests are about; keep them out of
	// the test log.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		cert, pool, err := selfSigned()
		if err != nil {
			tb.Fatalf("hookdtest: certificate: %v", err)
		}
		r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		r.srv.StartTLS()
		if !opts.Untrusted {
			r.pool = pool
		}
	} else {
		r.srv.Start()
	}
	r.URL = r.srv.URL
	tb.Cleanup(r.Close)
	return r
}

// CertPool returns a pool that trusts the receiver's certificate, or nil
// for a plain or untrusted receiver.
func (r *Receiver) CertPool() *x509.CertPool { return r.pool }

// Client returns an HTTP client that trusts the receiver (unless it is
// untrusted) and never follows redirects.
func (r *Receiver) Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Respond queues answers for the next requests, in order; once they are
// used up, requests get the Handle function's answer, or the default.
func (r *Receiver) Respond(resps ...Response) {
	r.mu.Lock()
	r.script = append(r.script, resps...)
	r.mu.Unlock()
}

// SetDefault sets the answer for requests with nothing queued and no Handle
// function.
func (r *Receiver) SetDefault(resp Response) {
	r.mu.Lock()
	r.fallback = resp
	r.mu.Unlock()
}

// Handle sets a function that decides the answer to each request without a
// queued answer. It runs on the server's goroutines, so it must be safe
// for concurrent use.
func (r *Receiver) Handle(f func(*Request) Response) {
	r.mu.Lock()
	r.handle = f
	r.mu.Unlock()
}

// Count returns how many requests arrived.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Concurrency returns how many requests are being answered now, and the
// most that were at any one time (a client's concurrency limit, seen from
// the server).
func (r *Receiver) Concurrency() (now, peak int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active, r.peak
}

// Requests returns the recorded requests in order of arrival.
func (r *Receiver) Requests() []*Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Request(nil), r.reqs...)
}

// Wait blocks until at least n requests arrived and returns the first n.
// It fails the test after Options.Timeout. Like t.Fatal, it must be
// called from the test's goroutine; elsewhere use WaitContext.
func (r *Receiver) Wait(n int) []*Request {
	r.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	reqs, err := r.WaitContext(ctx, n)
	if err != nil {
		r.tb.Fatalf("hookdtest: %v", err)
	}
	return reqs
}

// WaitContext blocks until at least n requests arrived or ctx ends.
func (r *Receiver) WaitContext(ctx context.Context, n int) ([]*Request, error) {
	for {
		r.mu.Lock()
		got, ch := r.n, r.changed
		var reqs []*Request
		if got >= n && !r.opts.CountOnly {
			reqs = append(reqs, r.reqs[:n]...)
		}
		r.mu.Unlock()
		if got >= n {
			return reqs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d requests arrived at %s: %w", got, n, r.URL, ctx.Err())
		}
	}
}

// Close shuts the receiver down, first releasing hanging and delayed
// handlers. It is called at the end of the test and may be called before.
func (r *Receiver) Close() {
	select {
	case <-r.closing:
		return
	default:
	}
	close(r.closing)
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *Receiver) serve(w http.ResponseWriter, hr *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(hr.Body, r.opts.MaxBody))
	_, _ = io.Copy(io.Discard, hr.Body)
	req := &Request{
		Method: hr.Method, Path: hr.URL.Path, RawQuery: hr.URL.RawQuery,
		Header: hr.Header, Body: body, At: at, RemoteAddr: hr.RemoteAddr,
	}

	r.mu.Lock()
	r.n++
	req.N = r.n
	r.active++
	r.peak = max(r.peak, r.active)
	defer func() {
		r.mu.Lock()
		r.active--
		r.mu.Unlock()
	}()
	if !r.opts.CountOnly {
		r.reqs = append(r.reqs, req)
	}
	var resp Response
	switch {
	case len(r.script) > 0:
		resp, r.script = r.script[0], r.script[1:]
	case r.handle != nil:
		h := r.handle
		r.mu.Unlock()
		resp = h(req)
		r.mu.Lock()
	default:
		resp = r.fallback
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-hr.Context().Done():
			t.Stop()
			return
		case <-r.closing:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	switch {
	case resp.Hang:
		select {
		case <-hr.Context().Done():
		case <-r.closing:
			// Never an answer, not even an empty one.
			panic(http.ErrAbortHandler)
		}
		return
	case resp.Reset:
		reset(w)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp.Body)
}

// reset drops the connection with a TCP RST (SO_LINGER 0), the abrupt end
// a crashing server or a middlebox produces.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	nc := conn
	if tc, ok := conn.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = nc.Close()
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost that is
// its own root, and a pool trusting it. Each receiver gets its own, so
// trusting one receiver never trusts another.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "hookdtest receiver"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// ClosedURL returns an http URL on 127.0.0.1 at a port where nothing
// listens, so connecting to it is refused.
func ClosedURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("hookdtest: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
