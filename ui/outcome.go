package ui

import (
	"strconv"

	"github.com/hookd/hookd"
)

// Outcome is how the dashboard words an attempt's result: a short label a
// person reads at a glance and a one-line hint on how to fix it.
type Outcome struct {
	Label string
	Hint  string
	OK    bool
}

// DescribeOutcome words an attempt's outcome and HTTP status the way the
// dashboard shows them, e.g. "Redirect (302) — redirects count as
// failures".
func DescribeOutcome(o hookd.Outcome, status int) Outcome {
	code := strconv.Itoa(status)
	switch o {
	case hookd.OutcomeSucceeded:
		l := "Delivered"
		if status != 0 {
			l += " (" + code + ")"
		}
		return Outcome{Label: l, OK: true}
	case hookd.OutcomeConnectError:
		return Outcome{Label: "Unable to connect",
			Hint: "No connection could be made to the endpoint's host: check that the name resolves and the server accepts connections from the internet."}
	case hookd.OutcomeRedirect:
		l := "Redirect — redirects count as failures"
		if status != 0 {
			l = "Redirect (" + code + ") — redirects count as failures"
		}
		return Outcome{Label: l,
			Hint: "hookd never follows redirects: set the endpoint's URL to the address the redirect points to."}
	case hookd.OutcomeHTTPError:
		return Outcome{Label: "HTTP " + code, Hint: httpHint(status)}
	case hookd.OutcomeTLSError:
		return Outcome{Label: "TLS error",
			Hint: "No secure connection could be made: check the server's certificate, its host name and its intermediate chain (an SSL server test finds most problems)."}
	case hookd.OutcomeTimeout:
		return Outcome{Label: "Timed out",
			Hint: "The endpoint did not answer within its timeout: reply 2xx at once and do slow work after responding."}
	case hookd.OutcomeBlocked:
		return Outcome{Label: "Blocked address",
			Hint: "The URL resolves to a private, loopback or otherwise non-public address, which hookd does not call; if that is intended, allow the range with --allow-network."}
	case "":
		return Outcome{Label: "Not attempted yet"}
	}
	return Outcome{Label: string(o)}
}

func httpHint(status int) string {
	switch {
	case status == 401 || status == 403:
		return "The endpoint refused access: it must accept hookd's requests without a login (verify the signature instead)."
	case status == 404:
		return "Nothing answers at this URL: check the path, and that the endpoint accepts POST."
	case status == 405:
		return "The URL does not accept POST: webhooks are always sent with POST."
	case status == 410:
		return "The receiver said the endpoint is gone, so hookd disabled it; enable it again once it is back."
	case status == 413:
		return "The receiver refused the body as too large: raise its request size limit."
	case status == 429:
		return "The receiver is rate limiting: lower the endpoint's rate limit or raise the receiver's; hookd honours Retry-After."
	case status >= 400 && status < 500:
		return "The receiver rejected the request: check that the URL exists, accepts POST, and does not need credentials hookd does not send."
	case status >= 500:
		return "The receiver failed while handling the request: its logs say why."
	}
	return ""
}
