package compare

import "syscall"

// childProcAttr puts a child in its own process group (the terminal's
// Ctrl-C reaches this process alone, which passes it on) and has the kernel
// send it SIGTERM, which it answers with a checkpoint, if this process dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
