package helper

import (
	"strings"
	"testing"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// A restart with another store while the running daemon keeps profiles
// would stop a working daemon for one that refuses to start: it is refused
// before anything stops, with the migration that does the job.
func TestRestartIntoAnotherStoreIsRefusedWhileProfilesLiveInThisOne(t *testing.T) {
	f := newFakeDaemon(t)
	f.store = &pb.StoreStatus{Name: "keyctl", Reachable: true}
	f.profiles = []*pb.Profile{{Name: "prod"}}
	_, errOut, code := f.run("", map[string]string{"DBX_CRED_STORE": "file"}, "daemon", "restart")
	if code != exitUsage || !strings.Contains(errOut, "dbx-cred store migrate --to file") || !strings.Contains(errOut, "keyctl store") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if f.shutdowns != 0 {
		t.Error("the working daemon was stopped")
	}
	// unlock on that daemon suggests the migration too, not a restart.
	_, errOut, _ = f.run("", nil, "unlock")
	if !strings.Contains(errOut, "dbx-cred store migrate --to file") || strings.Contains(errOut, "daemon restart") {
		t.Errorf("unlock: %q", errOut)
	}
}

// daemon status takes -o json as every other command that prints data
// does, and --json still.
func TestDaemonStatusTakesOutputJSON(t *testing.T) {
	f := newFakeDaemon(t)
	f.store = &pb.StoreStatus{Name: "os", Reachable: true}
	for _, args := range [][]string{{"daemon", "status", "-o", "json"}, {"daemon", "status", "--output", "json"}, {"daemon", "status", "--json"}} {
		out, errOut, code := f.run("", nil, args...)
		if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "{") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}
