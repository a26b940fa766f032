package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/adapter/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// metadataService is the metadata listener as the daemon runs it: serving
// (srv set), off on purpose (off), or down (err says why and the fix).
type metadataService struct {
	srv   *metadata.Server
	paths *metadata.Paths
	ln    net.Listener // bound, until serve hands it to srv
	off   bool
	err   error
}

// bindMetadata binds the metadata service's port, before the core exists
// (the core hands out its URLs); serve then serves it over the core. It
// never fails the daemon: a port it cannot have leaves the service down,
// logged with the reason, in Status and in what MetadataURL answers, while
// the socket serves tokens as ever.
func bindMetadata(bind metadata.BindConfig, mgr *profiles.Manager, st store.Store, log *slog.Logger) *metadataService {
	if _, off, _ := metadata.ParseListen(bind.Listen); off {
		return &metadataService{off: true}
	}
	ms := &metadataService{paths: metadata.NewPaths(st, mgr.InstallID(), mgr.Names, log)}
	ln, err := metadata.Bind(bind, log)
	if err != nil {
		ms.err = err
		log.Warn("metadata service down: serving tokens on the socket without it", "reason", err)
		return ms
	}
	ms.ln = ln
	return ms
}

// serve serves the bound port in the background, an adapter over c. A
// failure while serving is logged, and does not stop the daemon either.
func (ms *metadataService) serve(c *core.Service, log *slog.Logger) {
	if ms.ln == nil {
		return
	}
	h := metadata.NewHandler(metadata.Config{
		Paths:       ms.paths,
		Tokens:      metadataTokens{c},
		Log:         log,
		UID:         os.Getuid(),
		ErrorStatus: httpStatus,
	})
	ms.srv = metadata.NewServer(ms.ln, tcpguard.Config{Name: "metadata service", UID: os.Getuid(), Log: log}, ms.paths, h)
	go func() {
		if err := ms.srv.Serve(); err != nil {
			log.Error("metadata service stopped serving; tokens over the socket still work; restart dbx-credd to serve it again", "err", err)
		}
	}()
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
func (m *metadataService) urls() core.MetadataURLs {
	switch {
	case m.off:
		return nil
	case m.ln != nil:
		return boundURLs{m}
	}
	return downURLs{paths: m.paths, err: m.err}
}

// boundURLs hands out URLs of the bound port, served once serve has run
// (before the socket accepts its first call).
type boundURLs struct{ m *metadataService }

func (b boundURLs) URL(ctx context.Context, profile string, rotate bool) (string, error) {
	return b.m.srv.URL(ctx, profile, rotate)
}

func (b boundURLs) Forget(ctx context.Context, profile string) error {
	return b.m.srv.Forget(ctx, profile)
}

func (b boundURLs) ForgetAll() { b.m.paths.ForgetAll() }

func (m *metadataService) base() string {
	if m.ln == nil {
		return ""
	}
	return metadata.BaseURL(m.ln)
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

func (d downURLs) ForgetAll() { d.paths.ForgetAll() }

// metadataTokens serves the metadata service from the core, which records
// each hand-out with the caller the listener saw.
type metadataTokens struct{ c *core.Service }

func (t metadataTokens) Host(profile string) (string, bool) { return t.c.Host(profile) }

func (t metadataTokens) Token(ctx context.Context, profile string, caller metadata.Caller) (metadata.Token, error) {
	tok, err := t.c.Token(ctx, core.TokenRequest{TokenRequest: profiles.TokenRequest{Profile: profile},
		Channel: "metadata", Caller: &core.Caller{UID: caller.UID, PID: caller.PID}})
	if err != nil {
		return metadata.Token{}, err
	}
	return metadata.Token{Value: tok.Value, Expiry: tok.Expiry}, nil
}

// httpStatus is the error's kind's HTTP status (internal/errkind), as the
// gRPC side sends its kind's code.
func httpStatus(err error) int { return errkind.Of(err).HTTP() }
