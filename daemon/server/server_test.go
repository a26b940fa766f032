package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// The helper's exit codes depend on this mapping (agent.proto documents it).
func TestCode(t *testing.T) {
	cases := map[error]codes.Code{
		fmt.Errorf("x: %w", profiles.ErrUnknownProfile):                    codes.NotFound,
		fmt.Errorf("x: %w", profiles.ErrBadInput):                          codes.InvalidArgument,
		fmt.Errorf("x: %w", profiles.ErrNeedsLogin):                        codes.Unauthenticated,
		fmt.Errorf("x: %w", &store.UnavailableError{Err: errors.New("x")}): codes.FailedPrecondition,
		fmt.Errorf("x: %w", &workspace.UnreachableError{Host: "h"}):        codes.Unavailable,
		fmt.Errorf("x: %w", context.DeadlineExceeded):                      codes.DeadlineExceeded,
		errors.New("surprise"):                                             codes.Internal,
	}
	for err, want := range cases {
		if got := Code(err); got != want {
			t.Errorf("Code(%v) = %v, want %v", err, got, want)
		}
	}
}
