package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/server"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// metadataService is the metadata listener as the daemon runs it: serving
// (srv set), off on purpose (off), or down (err says why and the fix).
type metadataService struct {
	srv   *metadata.Server
	paths *metadata.Paths
	off   bool
	err   error
}

// startMetadata binds the metadata service and serves it in the background.
// It never fails the daemon: a port it cannot have leaves the service down,
// logged with the reason, in Status and in what MetadataURL answers, while
// the socket serves tokens as ever. A failure while serving later is
// logged, and does not stop the daemon either.
func startMetadata(bind metadata.BindConfig, mgr *profiles.Manager, st store.Store, aud *audit.Log, log *slog.Logger) *metadataService {
	if _, off, _ := metadata.ParseListen(bind.Listen); off {
		return &metadataService{off: true}
	}
	paths := metadata.NewPaths(st, mgr.Names, log)
	ms := &metadataService{paths: paths}
	ln, err := metadata.Bind(bind, log)
	if err != nil {
		ms.err = err
		log.Warn("metadata service down: serving tokens on the socket without it", "reason", err)
		return ms
	}
	h := metadata.NewHandler(metadata.Config{
		Paths:       paths,
		Tokens:      metadataTokens{mgr},
		Log:         log,
		Audit:       aud,
		UID:         os.Getuid(),
		ErrorStatus: httpStatus,
	})
	ms.srv = metadata.NewServer(ln, tcpguard.Config{Name: "metadata service", UID: os.Getuid(), Log: log}, paths, h)
	go func() {
		if err := ms.srv.Serve(); err != nil {
			log.Error("metadata service stopped serving; tokens over the socket still work; restart dbx-credd to serve it again", "err", err)
		}
	}()
	return ms
}

// stop lets requests in flight finish, for at most 5 s.
func (m *metadataService) stop(log *slog.Logger) {
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		log.Warn("metadata service did not stop cleanly", "err", err)
	}
}

// urls is what the MetadataURL RPC hands out from. Off is nil (the server
// then says the service is off); down answers with why it is down, and
// still forgets a logged-out profile's URL secret so a later profile of the
// same name does not inherit it.
func (m *metadataService) urls() server.MetadataURLs {
	switch {
	case m.off:
		return nil
	case m.srv != nil:
		return m.srv
	}
	return downURLs{paths: m.paths, err: m.err}
}

func (m *metadataService) base() string {
	if m.srv == nil {
		return ""
	}
	return m.srv.Base()
}

func (m *metadataService) errText() string {
	if m.err == nil {
		return ""
	}
	return m.err.Error()
}

// downURLs answers MetadataURL while the listener is down: a URL would
// point at a port this daemon does not serve.
type downURLs struct {
	paths *metadata.Paths
	err   error
}

func (d downURLs) URL(context.Context, string, bool) (string, error) {
	return "", fmt.Errorf("the metadata service of this dbx-credd is not serving, so it has no URL to hand out: %w (dbx-cred status shows it; tokens over the socket still work, e.g. dbx-cred token or --via cli)", d.err)
}

func (d downURLs) Forget(ctx context.Context, profile string) error {
	return d.paths.Forget(ctx, profile)
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
	return metadata.Token{Value: tok.Value, Expiry: tok.Expiry, Kind: tok.Served()}, nil
}

// httpStatus is the error's kind's HTTP status (internal/errkind), as the
// gRPC side sends its kind's code.
func httpStatus(err error) int { return errkind.Of(err).HTTP() }
