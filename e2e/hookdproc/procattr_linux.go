package hookdproc

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill hookd if the test process dies
// first (a go test timeout, a Ctrl-C), so that no server outlives its test
// holding a port and a temporary database.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
