//go:build unix

package ollamatest

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd lead a process group of its own and its cancellation
// kill that whole group: `ollama serve` starts a runner process per loaded
// model, which a kill of the server alone would leave running.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
