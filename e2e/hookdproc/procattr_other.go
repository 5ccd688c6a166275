//go:build !linux

package hookdproc

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; there the
// servers are killed by the tests' cleanups alone.
func dieWithParent(*exec.Cmd) {}
