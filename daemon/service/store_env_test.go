package service

import (
	"strings"
	"testing"
)

// The store chosen in the installing shell reaches the service, so a
// headless machine's unit does not come up undecided.
func TestServiceCarriesTheStore(t *testing.T) {
	got := serviceEnv(env("XDG_RUNTIME_DIR", "/run/user/1000", EnvStore, "file"), false)
	if len(got) != 1 || got[0] != (EnvVar{EnvStore, "file"}) {
		t.Fatalf("serviceEnv = %v, want %s=file", got, EnvStore)
	}
	u := Unit{Executable: "/home/alice/.local/bin/dbx-credd", Env: got}
	unit, err := RenderSystemd(u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "DBX_CRED_STORE=file") {
		t.Fatalf("the unit does not set the store:\n%s", unit)
	}
}
