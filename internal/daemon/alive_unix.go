//go:build unix

package daemon

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// processAlive reports whether process pid exists and is not a zombie (killed, not yet
// reaped). The health check runs where the daemon runs (the container, the app), so the
// pid is in its namespace; EPERM means it exists under another user.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// Linux: the state follows the command name in parentheses, "Z" for a zombie.
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}
