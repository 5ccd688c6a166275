package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5/pgconn"
)

// fail turns a database error into a hookd error, so that the API answers
// 503 while PostgreSQL is away, 409-style EDUPLICATE for a taken id, 422
// for input PostgreSQL cannot store, and 500 only for what is a bug.
func (s *Store) fail(err error, op string) error {
	if err == nil {
		return nil
	}
	var he *hookd.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the database did not answer in time", Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return &hookd.Error{Code: hookd.EDUPLICATE, Message: "already exists", Err: err}
		case strings.HasPrefix(pe.Code, "22"):
			// data exception: a value PostgreSQL cannot hold, such as
			// a NUL byte in text.
			return &hookd.Error{Code: hookd.EINVALID, Message: "a value cannot be stored: " + pe.Message, Err: err}
		case unavailableCode(pe.Code):
			return &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the database is unavailable", Err: err}
		}
		return &hookd.Error{Code: hookd.EINTERNAL, Message: op, Err: err}
	}
	if connectionLost(err) {
		return &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the database is unavailable", Err: err}
	}
	return &hookd.Error{Code: hookd.EINTERNAL, Message: op, Err: err}
}

// unavailableCode reports SQLSTATEs that mean "try again later": the server
// is shutting down or starting, refuses connections, or the operation was
// cancelled or lost a race worth retrying.
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "57P"),   // admin shutdown, crash shutdown, cannot connect now
		strings.HasPrefix(code, "53"),    // insufficient resources (too many connections)
		code == "40001", code == "40P01", // serialization failure, deadlock
		code == "55P03", // lock not available
		code == "57014": // query cancelled (statement timeout)
		return true
	}
	return false
}

// connectionLost reports errors of the connection itself rather than of a
// statement: refused, reset, closed, timed out.
func connectionLost(err error) bool {
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "conn busy") ||
		strings.Contains(msg, "closed pool")
}

// retryable reports whether an operation that failed with err may be run
// again as it is: nothing reached the server, or the server refused it in
// a way that a second try can overcome.
func retryable(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// noPartition reports the error of a row whose partition does not exist
// (yet, or any more).
func noPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.HasPrefix(pe.Message, "no partition of relation")
}
