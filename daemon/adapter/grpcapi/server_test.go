package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
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
		if got := codeOf(err); got != want {
			t.Errorf("Code(%v) = %v, want %v", err, got, want)
		}
	}
}

// Every kind of token served has its own wire value, and the profile kinds
// theirs: a word without an enum value would go out as UNSPECIFIED.
func TestKinds(t *testing.T) {
	m2m := profiles.Profile{}
	m2m.Kind, m2m.Served = profiles.KindOAuthM2M, "oauth-m2m"
	pat := profiles.Profile{}
	pat.Kind, pat.Served, pat.Mode = profiles.KindPAT, "pat", profiles.ModeStatic
	derived := pat
	derived.Served, derived.Mode = "derived-pat", profiles.ModeRotating
	u2m := m2m
	u2m.Kind, u2m.Served = profiles.KindOAuthU2M, "oauth-u2m"
	cases := []struct {
		tok  profiles.Token
		want pb.TokenKind
	}{
		{profiles.Token{Profile: pat}, pb.TokenKind_TOKEN_KIND_PAT},
		{profiles.Token{Profile: derived}, pb.TokenKind_TOKEN_KIND_DERIVED_PAT},
		{profiles.Token{Profile: m2m}, pb.TokenKind_TOKEN_KIND_OAUTH_M2M},
		{profiles.Token{Profile: u2m}, pb.TokenKind_TOKEN_KIND_OAUTH_U2M},
	}
	srv := New(nil)
	for _, c := range cases {
		if got := srv.enums.tokenKind.value(c.tok.Served()); got != c.want {
			t.Errorf("tokenKind(%s) = %v, want %v", c.tok.Served(), got, c.want)
		}
	}
	if got := srv.toProto(m2m).GetKind(); got != pb.CredentialKind_CREDENTIAL_KIND_OAUTH_M2M {
		t.Errorf("an oauth-m2m profile goes out as %v", got)
	}
	if got := srv.toProto(m2m).GetMode(); got != pb.TokenMode_TOKEN_MODE_UNSPECIFIED {
		t.Errorf("an oauth-m2m profile has mode %v; it has no static/rotating choice", got)
	}
}

// codeOf is the gRPC code an error goes out with: its kind's.
func codeOf(err error) codes.Code { return codes.Code(errkind.Of(err).GRPC()) }
