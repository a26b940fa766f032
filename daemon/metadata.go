package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/server"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// startMetadata binds the metadata service (nil when listen is "off") and
// serves it in the background; errors from serving arrive on the channel,
// which never delivers when the service is off.
func startMetadata(listen string, mgr *profiles.Manager, st store.Store, aud *audit.Log, log *slog.Logger) (*metadata.Server, <-chan error, error) {
	served := make(chan error, 1)
	addr, off, err := metadata.ParseListen(listen)
	if err != nil || off {
		return nil, served, err
	}
	paths := metadata.NewPaths(st, mgr.Names, log)
	h := metadata.NewHandler(metadata.Config{
		Paths:       paths,
		Tokens:      metadataTokens{mgr},
		Log:         log,
		Audit:       aud,
		UID:         os.Getuid(),
		ErrorStatus: httpStatus,
	})
	srv, err := metadata.Listen(addr, paths, h)
	if err != nil {
		return nil, served, err
	}
	go func() { served <- srv.Serve() }()
	return srv, served, nil
}

// stopMetadata lets requests in flight finish, for at most 5 s.
func stopMetadata(srv *metadata.Server, log *slog.Logger) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("metadata service did not stop cleanly", "err", err)
	}
}

// metadataURLs keeps a nil *metadata.Server from becoming a non-nil
// interface: the server then reports the service as off.
func metadataURLs(srv *metadata.Server) server.MetadataURLs {
	if srv == nil {
		return nil
	}
	return srv
}

func metadataBase(srv *metadata.Server) string {
	if srv == nil {
		return ""
	}
	return srv.Base()
}

// metadataTokens serves the metadata service from the profile manager.
type metadataTokens struct{ m *profiles.Manager }

func (t metadataTokens) Host(profile string) (string, bool) {
	for _, p := range t.m.List() {
		if p.Name == profile {
			return p.Host, true
		}
	}
	return "", false
}

func (t metadataTokens) Token(ctx context.Context, profile string) (metadata.Token, error) {
	tok, err := t.m.Token(ctx, profiles.TokenRequest{Profile: profile})
	if err != nil {
		return metadata.Token{}, err
	}
	kind := "pat"
	if tok.Derived {
		kind = "derived-pat"
	}
	return metadata.Token{Value: tok.Value, Expiry: tok.Expiry, Kind: kind}, nil
}

// httpStatus maps the manager's errors as the gRPC side does (server.Code),
// in HTTP's words.
func httpStatus(err error) int {
	switch server.Code(err) {
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.FailedPrecondition:
		return http.StatusServiceUnavailable // the keyring: may come back
	case codes.Unavailable:
		return http.StatusBadGateway // the workspace cannot be reached
	case codes.DeadlineExceeded, codes.Canceled:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
