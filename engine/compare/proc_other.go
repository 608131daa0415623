//go:build !linux

package compare

import "syscall"

// childProcAttr puts a child in its own process group, so that the
// terminal's Ctrl-C reaches this process alone, which passes it on.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
