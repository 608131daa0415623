//go:build !linux

package run

import "syscall"

// rankProcAttr puts a rank in its own process group, so that the
// terminal's Ctrl-C reaches the launcher alone, which passes it on once.
func rankProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
