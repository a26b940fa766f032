package helper

import (
	"os"
	"strconv"
	"strings"
)

// parentName is the parent process's command name, from /proc (one read
// of a few bytes), and whether it could be read.
func parentName() (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/comm")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
