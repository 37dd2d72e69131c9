//go:build unix

package daemon

import (
	"errors"
	"syscall"
)

// processAlive reports whether process pid exists. The health check runs where the daemon
// runs (the container, the app), so the pid is in its namespace; EPERM means it exists
// under another user.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
