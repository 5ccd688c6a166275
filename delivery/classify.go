package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.dny.dev/ssrf"

	"github.com/hookd/hookd"
)

// newSender returns what every request goes through: the direct client
// (direct.go), or net/http's Transport when MaxConnsPerHost asks for a
// bound across a host's connections, which only the Transport enforces.
// Both dial through one dialer that checks each address it is about to
// connect to, after DNS resolution, so the address checked is the address
// dialled: a name that resolves to 127.0.0.1 today is blocked, whatever it
// resolved to when the endpoint was created. Proxies from the environment
// are ignored, since a proxy would dial on our behalf and escape the check.
func newSender(o *Options) sender {
	var v4, v6 []netip.Prefix
	for _, p := range o.AllowNetworks {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	guard := ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
	dialer := &net.Dialer{Control: guard.Safe, KeepAlive: 30 * time.Second}
	tlsConf := &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	if o.MaxConnsPerHost <= 0 {
		return newDirectClient(dialer.DialContext, tlsConf, o.MaxIdleConnsPerHost, o.IdleConnTimeout)
	}
	return transportSender{&http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        0, // no global bound; MaxIdleConnsPerHost bounds each host
		MaxIdleConnsPerHost: o.MaxIdleConnsPerHost,
		MaxConnsPerHost:     o.MaxConnsPerHost,
		IdleConnTimeout:     o.IdleConnTimeout,
		// The endpoint's timeout, carried by the request's context,
		// bounds the handshake and the wait for headers.
		TLSHandshakeTimeout: 0,
	}}
}

// sender makes one delivery request: a POST of body with header to u,
// within ctx.
type sender interface {
	Do(ctx context.Context, u *url.URL, header http.Header, body []byte) (*http.Response, error)
	CloseIdleConnections()
}

// transportSender sends through net/http's Transport. It is the Transport
// itself, not an http.Client: hookd never follows redirects (the URL its
// owner registered is the only one it sends to, and what the SSRF guard
// and the logs are about; a 3xx is the outcome "redirect"), and a Client
// would copy every request's headers in case it had to.
type transportSender struct{ *http.Transport }

func (t transportSender) Do(ctx context.Context, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	req := (&http.Request{
		Method: http.MethodPost, URL: u, Host: u.Host, Header: header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	}).WithContext(ctx)
	return t.RoundTrip(req)
}

// classify maps a failed round trip to its outcome and a message for the
// attempt log.
func classify(err error, timeout time.Duration) (hookd.Outcome, string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop `Post "<url>":`, the URL is recorded already
	}
	switch {
	case errors.Is(err, ssrf.ErrProhibitedIP), errors.Is(err, ssrf.ErrProhibitedNetwork),
		errors.Is(err, ssrf.ErrProhibitedPort), errors.Is(err, ssrf.ErrInvalidHostPort):
		addr := ""
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Addr != nil {
			addr = oe.Addr.String()
		}
		return hookd.OutcomeBlocked, fmt.Sprintf("blocked: %s is not a public address; hookd sends only to public addresses unless its network is allowed (--allow-network)", hostOf(addr))
	case isTLSError(err):
		return hookd.OutcomeTLSError, err.Error()
	case isDialError(err):
		return hookd.OutcomeConnectError, err.Error()
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return hookd.OutcomeTimeout, fmt.Sprintf("no complete response within the endpoint's timeout (%s)", timeout)
	}
	return hookd.OutcomeConnectError, err.Error()
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	if addr == "" {
		return "the address"
	}
	return addr
}

func isTLSError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) ||
		errors.As(err, &cie) || errors.As(err, &rhe) || errors.As(err, &ae) {
		return true
	}
	// Alerts the server sends come as "remote error: tls: …", whose type
	// crypto/tls does not export.
	return strings.Contains(err.Error(), "tls: ")
}

// isDialError reports a failure to open the connection: DNS, refused,
// unreachable, or no connection within the timeout.
func isDialError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// statusOutcome classifies a response by its status.
func statusOutcome(code int) hookd.Outcome {
	switch {
	case code >= 200 && code < 300:
		return hookd.OutcomeSucceeded
	case code >= 300 && code < 400:
		return hookd.OutcomeRedirect
	}
	return hookd.OutcomeHTTPError
}

// maxRetryAfter bounds how far a Retry-After may push an attempt, so that
// an absurd value cannot overflow time arithmetic.
const maxRetryAfter = 365 * 24 * time.Hour

// retryAfter parses a Retry-After of seconds or an HTTP date into the time
// it names. ok is false for an absent, malformed or past value.
func retryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return now.Add(maxRetryAfter), true
			}
			return time.Time{}, false
		}
		d := time.Duration(n) * time.Second
		if n > int64(maxRetryAfter/time.Second) {
			d = maxRetryAfter
		}
		return now.Add(d), n > 0
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return time.Time{}, false
	}
	if t.Sub(now) > maxRetryAfter {
		t = now.Add(maxRetryAfter)
	}
	return t, true
}
