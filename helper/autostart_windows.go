package helper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/windows"
)

const daemonName = "dbx-credd.exe"

// oNoFollow is 0: Windows' CreateFile, as os.OpenFile calls it, has no
// such flag, and creating a symlink there takes a privilege (or developer
// mode) that an attacker planting one in %LOCALAPPDATA% would not have.
const oNoFollow = 0

// detach gives the daemon no console and its own process group, so it
// outlives the helper and the console window, and Ctrl-C there misses it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS}
}

// stateDir is %LOCALAPPDATA%\dbx-cred, beside the default socket.
func stateDir(getenv func(string) string) string {
	if d := getenv("LOCALAPPDATA"); d != "" {
		return filepath.Join(d, "dbx-cred")
	}
	return filepath.Join(os.TempDir(), "dbx-cred")
}

// envKey folds k to upper case: Windows variable names are not
// case-sensitive ("Path" is PATH).
func envKey(k string) string { return strings.ToUpper(k) }

// platformEnv adds what Windows programs need to run at all (SYSTEMROOT
// for networking and crypto, the profile and temp directories) and where
// the daemon keeps its socket and state (LOCALAPPDATA).
func platformEnv(k string) bool {
	switch k {
	case "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "USERPROFILE", "USERNAME", "USERDOMAIN",
		"LOCALAPPDATA", "APPDATA", "PROGRAMDATA", "TEMP", "TMP", "COMSPEC", "PATHEXT":
		return true
	}
	return false
}
