package helper

import (
	"testing"

	"google.golang.org/grpc/codes"
)

// TestExitCodeIsTheKinds: the exit code comes from the kind the daemon
// sends in its trailer, through internal/errkind's table; a daemon that
// sends none (older) is read by its code.
func TestExitCodeIsTheKinds(t *testing.T) {
	f := newFakeDaemon(t)
	cases := map[string]struct {
		fail sentFailure
		want int
	}{
		"unreachable": {sentFailure{codes.Unavailable, "unreachable"}, exitUnreachable},
		"rejected":    {sentFailure{codes.Unauthenticated, "needs-login"}, exitRejected},
		"locked":      {sentFailure{codes.FailedPrecondition, "store-locked"}, exitKeyring},
		"quota":       {sentFailure{codes.ResourceExhausted, "quota"}, exitFailure},
		"missing":     {sentFailure{codes.NotFound, "not-found"}, exitNoProfile},
		// The kind wins over the code: the code alone would say 6.
		"kindwins": {sentFailure{codes.Unavailable, "needs-login"}, exitRejected},
		// An older daemon: no trailer, the code decides.
		"old-rejected":    {sentFailure{codes.Unauthenticated, ""}, exitRejected},
		"old-unreachable": {sentFailure{codes.Unavailable, ""}, exitUnreachable},
	}
	f.with(func(f *fakeDaemon) {
		f.tokenFails = map[string]sentFailure{}
		for name, c := range cases {
			f.tokenFails[name] = c.fail
		}
	})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := f.run("", nil, "token", "-p", name)
			if code != c.want {
				t.Errorf("exit %d, want %d (%s)", code, c.want, errOut)
			}
		})
	}
}
