// Command bench measures hookd on the machine it runs on and reports every
// figure next to what the machine can do at all: the rate of plain Go HTTP
// requests over loopback, measured at the start of the same run.
//
//	go run ./bench [-quick] [-pg | -store postgres://…] [-cpuprofile f] [scenario…]
//
// Scenarios (all by default): e2e, batch, latency, fanout, backlog,
// isolation, and nodes (only with -pg or -store postgres://…). Each prints
// a line of progress on stderr, one JSON object on stdout when it ends, and
// a row of the table printed at the end. -quick scales every scenario down
// so that the whole run takes well under a minute; CI runs it as a smoke
// test, which fails (exit status 1) only when something is broken —
// deliveries missing, a publish refused — never because a figure is slow.
//
// hookd runs in this process, wired as "hookd serve" wires it: the store
// (SQLite in WAL mode with synchronous=FULL on a fresh temporary file per
// scenario, or a fresh PostgreSQL schema), the delivery engine, and the API
// behind an http.Server with serve's limits on a loopback listener. The
// dashboard is left out: nothing measured goes through it. Load comes from
// a tuned http.Client (keep-alive, enough idle connections for every
// publisher) and goes to receivers that answer 200 and do nothing else but
// note which event arrived and when, so the figures are hookd's and not the
// harness's. Each event's data carries its number and the time its publish
// was sent, which is how the receivers count duplicates and missing
// deliveries and measure publish→receive latency without any shared state
// with hookd.
//
// Because everything shares one process, CPU per delivery is the whole
// process's (hookd, publishers and receivers); the raw reference reports
// the same both-sides cost of one plain request, so the difference is what
// hookd adds. The fan-out receiver runs in a child process (this binary,
// re-executed), since 10,000 endpoints mean up to 10,000 connections, and
// both of their ends in one process would exhaust its file descriptors.
//
// The backlog scenario needs a million deliveries due at once when their
// endpoint comes back. They fail their first attempt against a closed port
// and are rescheduled an hour later; instead of waiting that hour, the
// engine's clock (Options.Now) is moved an hour ahead when the endpoint
// comes back, exactly as if it had been down that long.
package main
