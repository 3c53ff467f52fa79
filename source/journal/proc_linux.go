package journal

import (
	"os/exec"
	"syscall"
)

// prepare makes journalctl die with the daemon: a journalctl --follow left
// behind would wait for entries forever.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
