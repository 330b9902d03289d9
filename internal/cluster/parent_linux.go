package cluster

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel kill cmd when the process that started
// it dies, so that a TaskManager killed outright leaves no workers behind.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
