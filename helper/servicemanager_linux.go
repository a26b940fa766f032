package helper

import "os"

// serviceManagerHere reports whether "dbx-credd install" can work here:
// systemd runs (the check sd_booted(3) makes, and kardianos/service's).
// Containers and WSL without systemd have none; dbx-cred's start on first
// use is how the daemon runs there.
func serviceManagerHere() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}
