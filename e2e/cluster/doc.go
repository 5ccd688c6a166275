// Package cluster tests hookd scaled out: several "hookd serve" processes
// on one PostgreSQL database, driven over HTTP while an independent
// receiver counts what arrives. One node is killed with SIGKILL mid-way,
// or PostgreSQL itself is restarted, and every event that was accepted
// (202) must still be delivered at least once; duplicates are allowed (the
// receiver dedupes on webhook-id) and their number is printed.
//
// The tests need PostgreSQL: each creates a database of its own with
// pgtest, which says which server and when they skip. The processes are
// started and ended by hookdproc, shared with package e2e; what is
// particular to a cluster (publishers that fail over between nodes, a
// receiver that counts only answered requests) stays here. The restart
// test also needs HOOKD_TEST_PG_RESTART=1 and pg_ctlcluster, since it
// disturbs every other user of the server.
package cluster
