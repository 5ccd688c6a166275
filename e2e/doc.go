// Package e2e tests hookd from the outside: TestMain builds the real
// binary once, each test starts "hookd serve" processes (hookdproc) on
// temporary SQLite files and drives them over HTTP, as an operator and as
// the receivers of its webhooks would.
//
// Nothing here imports hookd's internals except the domain types (for
// decoding) and hookdtest's receivers: signatures are checked with the
// independent Standard Webhooks, Stripe and GitHub libraries, and crash
// safety is checked by killing the process with SIGKILL, not by simulating
// a crash in-process. Waits poll the API or read receiver channels, bounded
// by deadlines; nothing sleeps to synchronise.
package e2e
