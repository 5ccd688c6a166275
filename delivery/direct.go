package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// directClient makes a delivery's HTTP/1.1 exchange on the lane worker's
// own goroutine, over keep-alive connections pooled per scheme and host.
//
// Why by hand: net/http's Transport runs every exchange across three
// goroutines (the caller, a writer and a reader per connection), and the
// hand-offs between them cost about as much CPU as the exchange itself: a
// 1 KiB POST to a local server took 35 µs of CPU (both sides) through the
// Transport and 21 µs written and read by the caller (bench's
// BenchmarkClient), in a server whose CPU per delivery is ≈ 130 µs.
// Libraries that avoid the hand-offs (fasthttp) bring their own request,
// response and error types, which the outcome classification, the SSRF
// guard and the TLS checks would have to be rebuilt on. This client keeps
// all of those: it dials with the engine's guarded dialer, handshakes with
// crypto/tls, parses with net/http's ReadResponse, and owns only the
// request's bytes and the pool. It speaks HTTP/1.1 only (ALPN offers
// nothing else), never follows redirects, and writes the whole request
// before it reads, which is safe for bodies that fit the socket's buffers
// (a webhook's); a server that answers a larger body early and stops
// reading makes the attempt time out instead.
type directClient struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	tls         *tls.Config
	maxIdle     int
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*pconn // by scheme://host:port, most recently used last
	closed bool
	stop   chan struct{}
}

// pconn is one pooled connection.
type pconn struct {
	key    string
	conn   net.Conn
	raw    syscall.Conn // the TCP connection under TLS, for the liveness check
	lim    limitReader
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// maxResponseHeader bounds the bytes read before a response's body.
const maxResponseHeader = 64 << 10

// limitReader lets a response's header phase read at most n bytes of the
// connection; the body's reads are bounded by the caller.
type limitReader struct {
	r io.Reader
	n int64
}

var errHeaderTooLarge = errors.New("response header larger than 64 KiB")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func newDirectClient(dial func(context.Context, string, string) (net.Conn, error), tlsConf *tls.Config, maxIdle int, idleTimeout time.Duration) *directClient {
	tlsConf = tlsConf.Clone()
	tlsConf.NextProtos = []string{"http/1.1"}
	d := &directClient{dial: dial, tls: tlsConf, maxIdle: maxIdle, idleTimeout: idleTimeout,
		idle: make(map[string][]*pconn), stop: make(chan struct{})}
	go d.janitor()
	return d
}

// janitor closes connections idle longer than idleTimeout.
func (d *directClient) janitor() {
	t := time.NewTicker(max(d.idleTimeout/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.mu.Lock()
			var old []*pconn
			for k, list := range d.idle {
				keep := list[:0]
				for _, pc := range list {
					if now.Sub(pc.idleAt) > d.idleTimeout {
						old = append(old, pc)
					} else {
						keep = append(keep, pc)
					}
				}
				if len(keep) == 0 {
					delete(d.idle, k)
				} else {
					d.idle[k] = keep
				}
			}
			d.mu.Unlock()
			for _, pc := range old {
				pc.conn.Close()
			}
		}
	}
}

// CloseIdleConnections closes the pooled connections and stops pooling.
func (d *directClient) CloseIdleConnections() {
	d.mu.Lock()
	idle := d.idle
	d.idle = make(map[string][]*pconn)
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
	d.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.conn.Close()
		}
	}
}

// Do posts body with header to u within ctx (its deadline bounds the whole
// exchange; its cancellation aborts it). The response's body must be
// closed; read to its end, it returns the connection to the pool.
func (d *directClient) Do(ctx context.Context, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	key, addr := poolKey(u)
	for try := 0; ; try++ {
		pc, reused := d.get(key)
		if pc == nil {
			var err error
			if pc, err = d.connect(ctx, key, u, addr); err != nil {
				return nil, err
			}
		}
		resp, err := d.exchange(ctx, pc, u, header, body)
		if err == nil {
			return resp, nil
		}
		pc.conn.Close()
		// A pooled connection the server closed just as it was picked
		// fails before any answer; one more try on a new connection
		// makes that race invisible, as net/http's idle-close detection
		// does. If instead the server took the request and died before
		// answering, the retry is a duplicate, which a webhook's
		// receiver already has to expect (at-least-once; webhook-id).
		// A timeout is the endpoint's answer (none in time), not a
		// closed connection, even when the context's own timer has not
		// fired yet.
		var nr *noResponse
		if !errors.As(err, &nr) {
			return nil, err
		}
		if reused && try == 0 && ctx.Err() == nil && !isTimeout(nr.err) {
			continue
		}
		return nil, nr.err
	}
}

// noResponse marks an exchange that failed before the first byte of an
// answer.
type noResponse struct{ err error }

func (e *noResponse) Error() string { return e.err.Error() }
func (e *noResponse) Unwrap() error { return e.err }

func poolKey(u *url.URL) (key, addr string) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr = net.JoinHostPort(host, port)
	return u.Scheme + "://" + addr, addr
}

// get takes the most recently used live connection of key.
func (d *directClient) get(key string) (*pconn, bool) {
	now := time.Now()
	for {
		d.mu.Lock()
		list := d.idle[key]
		if len(list) == 0 {
			d.mu.Unlock()
			return nil, false
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		d.idle[key] = list[:len(list)-1]
		d.mu.Unlock()
		if now.Sub(pc.idleAt) <= d.idleTimeout && pc.alive() {
			return pc, true
		}
		pc.conn.Close()
	}
}

// alive reports whether the server has not closed or written to the idle
// connection: a non-blocking read of the socket must find nothing yet.
func (pc *pconn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false // an answer nobody asked for
	}
	rc, err := pc.raw.SyscallConn()
	if err != nil {
		return false
	}
	return socketIdle(rc)
}

// put pools pc for reuse, or closes it.
func (d *directClient) put(pc *pconn) {
	pc.idleAt = time.Now()
	d.mu.Lock()
	if d.closed || len(d.idle[pc.key]) >= d.maxIdle {
		d.mu.Unlock()
		pc.conn.Close()
		return
	}
	d.idle[pc.key] = append(d.idle[pc.key], pc)
	d.mu.Unlock()
}

// connect dials addr through the guarded dialer, with TLS for https.
func (d *directClient) connect(ctx context.Context, key string, u *url.URL, addr string) (*pconn, error) {
	c, err := d.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	raw, ok := c.(syscall.Conn)
	if !ok {
		c.Close()
		return nil, errors.New("dialled connection has no file descriptor")
	}
	if u.Scheme == "https" {
		conf := d.tls.Clone()
		conf.ServerName = u.Hostname()
		tc := tls.Client(c, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	pc := &pconn{key: key, conn: c, raw: raw}
	pc.lim.r = c
	pc.br = bufio.NewReaderSize(&pc.lim, 4096)
	pc.bw = bufio.NewWriterSize(c, 4096)
	return pc, nil
}

// aLongTimeAgo, as a deadline, fails every pending read and write at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes the request and reads the answer's header on pc.
func (d *directClient) exchange(ctx context.Context, pc *pconn, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	dl, _ := ctx.Deadline()
	if err := pc.conn.SetDeadline(dl); err != nil {
		return nil, &noResponse{err}
	}
	if !validHeader(header) {
		return nil, errBadHeader
	}
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(aLongTimeAgo) })
	if err := writeRequest(pc.bw, u, header, body); err != nil {
		stop()
		// The server may have answered and closed without reading (a
		// 413, say): its answer is the outcome if it came.
		if resp, rerr := d.readResponse(pc); rerr == nil {
			resp.Close = true
			return d.wrap(pc, resp, stop), nil
		}
		return nil, &noResponse{ctxErr(ctx, err)}
	}
	resp, err := d.readResponse(pc)
	if err != nil {
		stop()
		return nil, ctxErr(ctx, err)
	}
	return d.wrap(pc, resp, stop), nil
}

// ctxErr prefers the context's reason when it ended the exchange.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, io.EOF) {
			return cerr
		}
	}
	return err
}

// readResponse reads the final response's status and header (1xx answers
// are skipped, as net/http does), bounded by maxResponseHeader.
func (d *directClient) readResponse(pc *pconn) (*http.Response, error) {
	pc.lim.n = maxResponseHeader
	defer func() { pc.lim.n = math.MaxInt64 }()
	req := &http.Request{Method: http.MethodPost}
	for {
		if _, err := pc.br.Peek(1); err != nil {
			return nil, &noResponse{err}
		}
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// wrap gives resp a body that returns pc to the pool once read to its end.
func (d *directClient) wrap(pc *pconn, resp *http.Response, stop func() bool) *http.Response {
	resp.Body = &pooledBody{rc: resp.Body, d: d, pc: pc, reuse: !resp.Close, stop: stop}
	return resp
}

type pooledBody struct {
	rc         io.ReadCloser
	d          *directClient
	pc         *pconn
	stop       func() bool
	reuse, eof bool
	done       bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	b.rc.Close()
	// Stop the cancellation first: once it has run, the connection's
	// deadline is in the past and it must not be pooled.
	if b.stop() && b.reuse && b.eof {
		if err := b.pc.conn.SetDeadline(time.Time{}); err == nil {
			b.d.put(b.pc)
			return nil
		}
	}
	b.pc.conn.Close()
	return nil
}

var errBadHeader = errors.New("not sent: a header name or value holds a line break")

// validHeader reports whether header can be written as it is. Endpoints'
// headers are checked when they are saved; this keeps a line break from
// any other source out of the request too.
func validHeader(header http.Header) bool {
	for k, vs := range header {
		if k == "" || strings.ContainsAny(k, "\r\n: ") {
			return false
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return false
			}
		}
	}
	return true
}

// writeRequest writes a POST of body to u with header and flushes it.
func writeRequest(w *bufio.Writer, u *url.URL, header http.Header, body []byte) error {
	w.WriteString("POST ")
	w.WriteString(u.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(u.Host)
	w.WriteString("\r\n")
	for k, vs := range header {
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("Content-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	return w.Flush()
}
