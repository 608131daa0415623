package run

import "syscall"

// rankProcAttr puts a rank in its own process group (the terminal's Ctrl-C
// reaches the launcher alone, which passes it on once) and has the kernel
// send it SIGTERM, which it answers with a checkpoint, if the launcher
// dies.
func rankProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
