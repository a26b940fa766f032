// Package harden makes the daemon's memory, which holds every secret it
// serves, harder for other processes to read: no core dumps, and on Linux no
// ptrace or /proc/<pid>/mem access from other processes of the same user, as
// ssh-agent does.
package harden

// Apply hardens the current process. It returns whether every measure took
// effect and, if not, why; the daemon runs anyway and reports it in status.
func Apply() (bool, error) { return apply() }
