package helper

import (
	"strings"
	"testing"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// A profile logged in already keeps its host: login -p NAME alone logs it
// in again there, and says so.
func TestLoginAgainReusesTheHost(t *testing.T) {
	f := newFakeDaemon(t)
	f.profiles = []*pb.Profile{{Name: "prod", Host: "https://adb-1.azuredatabricks.net", UserName: "a@b.com"}}
	_, errOut, code := f.run(testPAT+"\n", nil, "login", "-p", "prod", "--static")
	reqs := f.loginRequests()
	if code != 0 || len(reqs) != 1 || reqs[0].GetHost() != "https://adb-1.azuredatabricks.net" {
		t.Fatalf("exit %d, stderr %q, requests %v", code, errOut, reqs)
	}
	if !strings.Contains(errOut, "logging profile prod in again at https://adb-1.azuredatabricks.net") {
		t.Errorf("stderr %q", errOut)
	}
	// A new profile still needs --host, and hears why.
	if _, errOut, code := f.run(testPAT+"\n", nil, "login", "-p", "new"); code != exitUsage || !strings.Contains(errOut, "not logged in yet") {
		t.Errorf("new profile without --host: exit %d, %q", code, errOut)
	}
}

// An address copied from the browser is cut to the workspace URL.
func TestLoginCutsABrowserAddressToTheWorkspace(t *testing.T) {
	f := newFakeDaemon(t)
	_, errOut, code := f.run(testPAT+"\n", nil, "login", "-p", "prod", "--static", "--host", "https://adb-1.azuredatabricks.net/?o=1234#job/5")
	reqs := f.loginRequests()
	if code != 0 || len(reqs) != 1 || reqs[0].GetHost() != "https://adb-1.azuredatabricks.net" {
		t.Fatalf("exit %d, stderr %q, requests %v", code, errOut, reqs)
	}
	if !strings.Contains(errOut, "using https://adb-1.azuredatabricks.net, the workspace URL in") {
		t.Errorf("stderr %q", errOut)
	}
}

// With no usable store, or a locked one, login fails before it reads the
// secret: nobody pastes a token for nothing.
func TestLoginChecksTheStoreBeforeTheSecret(t *testing.T) {
	for _, st := range []*pb.StoreStatus{
		{Name: "", Note: "no store is usable: the OS keyring does not answer"},
		{Name: "file", Backend: "file (/x/secrets.age)", Reachable: true, Locked: true},
	} {
		f := newFakeDaemon(t)
		f.store = st
		_, errOut, code := f.run(testPAT+"\n", nil, "login", "-p", "prod", "--host", "https://adb-1.azuredatabricks.net")
		if code != exitKeyring || len(f.loginRequests()) != 0 || !strings.Contains(errOut, "nothing was asked for") {
			t.Errorf("store %+v: exit %d, stderr %q", st, code, errOut)
		}
	}
}
