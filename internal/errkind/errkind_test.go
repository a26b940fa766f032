package errkind

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestTableIsWhole(t *testing.T) {
	names := map[string]bool{}
	for i, r := range Rows() {
		if r.Kind != Kind(i) {
			t.Errorf("row %d holds kind %d", i, r.Kind)
		}
		if r.Name == "" || r.Help == "" || r.GRPC == 0 || r.HTTP < 400 {
			t.Errorf("row %d is incomplete: %+v", i, r)
		}
		if names[r.Name] {
			t.Errorf("name %q twice", r.Name)
		}
		names[r.Name] = true
		if k, ok := Parse(r.Name); !ok || k != r.Kind {
			t.Errorf("Parse(%q) = %v, %v", r.Name, k, ok)
		}
	}
	if _, ok := Parse("nonsense"); ok {
		t.Error("Parse accepted an unknown name")
	}
}

func TestOfFindsTheOutermostKind(t *testing.T) {
	sentinel := New(NeedsLogin, "needs login")
	wrapped := fmt.Errorf("profile prod: %w", sentinel)
	if Of(wrapped) != NeedsLogin || !errors.Is(wrapped, sentinel) {
		t.Errorf("Of(wrapped) = %v", Of(wrapped))
	}
	if got := Of(Wrap(Unreachable, wrapped)); got != Unreachable {
		t.Errorf("outer kind lost: %v", got)
	}
	if Of(fmt.Errorf("x: %w", context.DeadlineExceeded)) != Timeout || Of(context.Canceled) != Canceled {
		t.Error("context errors are not Timeout and Canceled")
	}
	if Of(errors.New("plain")) != Internal || Wrap(BadInput, nil) != nil {
		t.Error("plain errors are Internal; Wrap(nil) is nil")
	}
	if Wrap(BadInput, errors.New("the host is empty")).Error() != "the host is empty" {
		t.Error("a kind must not prefix the message")
	}
}

func TestFromGRPCOfAnOlderDaemon(t *testing.T) {
	for code, want := range map[uint32]Kind{5: NotFound, 3: BadInput, 16: NeedsLogin, 9: StoreUnusable, 14: Unreachable, 13: Internal, 2: Internal} {
		if got := FromGRPC(code); got != want {
			t.Errorf("FromGRPC(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestExitStatusMatchesTheHelpersPromise(t *testing.T) {
	got := ExitStatus()
	for _, line := range []string{
		"  0   success",
		"  1   other error",
		"  2   dbx-credd is not running",
		"  3   no such profile",
		"  4   the workspace rejected the token",
		"  5   the store cannot be used",
		"  6   the workspace cannot be reached",
		"  64  usage error",
	} {
		if !strings.Contains(got, "\n"+line) {
			t.Errorf("ExitStatus lacks %q:\n%s", line, got)
		}
	}
}

// TestArchitectureDocListsTheTable keeps docs/architecture.md's error table
// true: one row per kind, with its code, status and exit.
func TestArchitectureDocListsTheTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{1: "CANCELLED", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 7: "PERMISSION_DENIED",
		8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}
	for _, r := range Rows() {
		row := fmt.Sprintf("| %s | %s | %d | %d | %s |", r.Name, names[r.GRPC], r.HTTP, r.Exit, r.Help)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/architecture.md lacks the row\n%s", row)
		}
	}
}
