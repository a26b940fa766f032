package helper

import (
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dbx-cred/dbx-cred/helper/envfmt"
)

// defaultShell is env's output syntax when --shell is not given: the
// shell that runs dbx-cred ("dbx-cred env | source" in fish is fish's
// child), so the lines suit the shell that evaluates them. A parent that
// is no shell (a script's interpreter, make) gets POSIX lines, as before;
// where the parent cannot be known, $SHELL decides.
func (c *cli) defaultShell() string {
	if name, known := parentName(); known {
		if w := shellWord(name); w != "" {
			return w
		}
		return "sh"
	}
	if w := shellWord(filepath.Base(c.io.Getenv("SHELL"))); w != "" {
		return w
	}
	if runtime.GOOS == "windows" {
		return "powershell"
	}
	return "sh"
}

// shellWord is name as a --shell value when it names a shell env knows
// ("-bash", a login shell, is bash), else "".
func shellWord(name string) string {
	name = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(name), "-"), ".exe")
	if name == "" {
		return ""
	}
	if _, err := envfmt.ParseShell(name); err != nil {
		return ""
	}
	return strings.ToLower(name)
}
