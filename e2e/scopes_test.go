package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

func TestTokenScopes(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")

	plain := w.validToken("-p", "prod")
	scoped := w.validToken("-p", "prod", "--scope", "sql")
	if scoped == plain {
		t.Fatal("--scope sql returned the unscoped token")
	}
	if ti, ok := w.emu.TokenInfoOf(scoped); !ok || !slices.Equal(ti.Scopes, []string{"sql"}) {
		t.Fatalf("the scoped token has scopes %v (live %v), want [sql]", ti.Scopes, ok)
	}
	if ti, _ := w.emu.TokenInfoOf(plain); len(ti.Scopes) != 0 {
		t.Fatalf("the unscoped token has scopes %v", ti.Scopes)
	}
	if again := w.validToken("-p", "prod", "--scope", "sql"); again != scoped {
		t.Fatal("a second --scope sql call minted again instead of serving the cached token")
	}
	if again := w.validToken("-p", "prod"); again != plain {
		t.Fatal("asking for a scoped token changed the unscoped one")
	}

	// An older workspace that knows no scopes: a clear error, and the
	// unscoped token keeps working.
	old := newWorld(t, wsemu.WithoutScopes())
	old.startDaemon()
	old.login("prod")
	_, errOut, code := old.helper("", "token", "-p", "prod", "--scope", "sql")
	if code == 0 || !strings.Contains(errOut, "scopes") {
		t.Fatalf("--scope on a workspace without scopes: exit %d, %q; want a non-zero exit naming scopes", code, errOut)
	}
	t.Logf("--scope without workspace support: exit %d: %s", code, errOut)
	old.validToken("-p", "prod")
	// Refused scopes stay refused: the daemon does not keep asking (its
	// first retry would come within 1 s), and asking again asks once.
	creates := old.emu.Requests("POST", "/api/2.0/token/create")
	time.Sleep(2500 * time.Millisecond)
	if n := old.emu.Requests("POST", "/api/2.0/token/create"); n != creates {
		t.Fatalf("the daemon made %d more token/create calls for scopes the workspace refused", n-creates)
	}
	if _, _, code := old.helper("", "token", "-p", "prod", "--scope", "sql"); code == 0 {
		t.Fatal("--scope succeeded the second time on a workspace without scopes")
	}
	if n := old.emu.Requests("POST", "/api/2.0/token/create"); n != creates+1 {
		t.Fatalf("asking for refused scopes again made %d token/create calls, want 1", n-creates)
	}
}
