// Package cluster tests hookd scaled out: several "hookd serve" processes
// on one PostgreSQL database, driven over HTTP while an independent
// receiver counts what arrives. One node is killed with SIGKILL mid-way,
// or PostgreSQL itself is restarted, and every event that was accepted
// (202) must still be delivered at least once; duplicates are allowed (the
// receiver dedupes on webhook-id) and their number is printed.
//
// The tests need PostgreSQL: HOOKD_TEST_DATABASE_URL, else the local
// server; each test creates a database of its own and drops it after.
// Without a server they skip. The restart test also needs
// HOOKD_TEST_PG_RESTART=1 and pg_ctlcluster, since it disturbs every other
// user of the server.
package cluster
