package helper

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestHelperStaysThin keeps the helper from linking the Databricks SDK, the
// keyring, grpc-go or the protobuf runtime: it runs on every git, curl and SDK call, so every
// import costs start-up time (grpc-go's package initialisation alone was
// about 3 ms, more than the call; helper/grpcwire speaks to the daemon
// instead), and the keyring is the daemon's business alone.
func TestHelperStaysThin(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/dbx-cred/dbx-cred/cmd/dbx-cred").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	forbidden := []string{
		"github.com/databricks/databricks-sdk-go",
		"github.com/zalando/go-keyring",
		"github.com/godbus/dbus",
		"github.com/danieljoos/wincred",
		"github.com/kardianos/service",
		"google.golang.org/grpc",
		// Its messages are proto/dbxcred/v1/dbxcredv1lite's: the protobuf
		// runtime registers descriptors and builds reflection at init, and
		// even protowire's internal/detrand reads the binary at start.
		"google.golang.org/protobuf",
		"net/http",
		// The passphrase goes to the daemon; the helper decrypts nothing.
		"filippo.io/age",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("cmd/dbx-cred links %s", dep)
			}
		}
	}
}

// TestOnlyTheClientSpeaksTheWire: commands call helper/client, whose
// private transport grpcwire is; none frames a call of its own.
func TestOnlyTheClientSpeaksTheWire(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "github.com/dbx-cred/dbx-cred/helper/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	const wire = "github.com/dbx-cred/dbx-cred/helper/grpcwire"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if pkg != "github.com/dbx-cred/dbx-cred/helper/client" && slices.Contains(strings.Fields(imports), wire) {
			t.Errorf("%s imports %s: call the daemon through helper/client", pkg, wire)
		}
	}
}
