//go:build !linux

package e2e

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; there the
// servers are killed by the tests' cleanups alone.
func dieWithParent(*exec.Cmd) {}
