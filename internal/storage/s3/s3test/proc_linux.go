package s3test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill MinIO when the test binary dies
// (a panic, a timeout, kill -9), so that no server outlives its tests.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
