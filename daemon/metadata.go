package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/adapter/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// rebindEvery is how often a metadata service that could not bind its
// port tries again: another dbx-credd of this user, or another program,
// may let it go.
const rebindEvery = 5 * time.Second

// metadataService is the metadata listener as the daemon runs it: serving
// (srv set), off on purpose (off), or down (err says why and the fix),
// trying to bind again until it serves or the daemon stops.
type metadataService struct {
	paths    *metadata.Paths
	off      bool
	bind     metadata.BindConfig
	identity string
	done     chan struct{} // closed by stop

	mu  sync.Mutex
	ln  net.Listener // bound, until serve hands it to srv
	srv *metadata.Server
	err error
}

// bindMetadata binds the metadata service's port, before the core exists
// (the core hands out its URLs); serve then serves it over the core. It
// never fails the daemon: a port it cannot have leaves the service down,
// logged with the reason, in Status and in what MetadataURL answers, while
// the socket serves tokens as ever; serve keeps trying the port.
func bindMetadata(bind metadata.BindConfig, mgr *profiles.Manager, st store.Store, identity string, log *slog.Logger) *metadataService {
	if _, off, _ := metadata.ParseListen(bind.Listen); off {
		return &metadataService{off: true}
	}
	ms := &metadataService{paths: metadata.NewPaths(st, mgr.InstallID(), mgr.Names, log), bind: bind, identity: identity, done: make(chan struct{})}
	ln, err := metadata.Bind(bind, log)
	if err != nil {
		ms.err = err
		log.Warn("metadata service down: serving tokens on the socket without it; trying the port again every "+rebindEvery.String(), "reason", err)
		return ms
	}
	ms.ln = ln
	return ms
}

// serve serves the bound port in the background, an adapter over c; a
// port not bound yet is tried again every rebindEvery until stop. A
// failure while serving is logged, and does not stop the daemon either.
func (ms *metadataService) serve(c *core.Service, log *slog.Logger) {
	if ms.off {
		return
	}
	h := metadata.NewHandler(metadata.Config{
		Paths:       ms.paths,
		Tokens:      metadataTokens{c},
		Log:         log,
		UID:         os.Getuid(),
		ErrorStatus: httpStatus,
		Identity:    ms.identity,
	})
	ms.mu.Lock()
	ln := ms.ln
	ms.mu.Unlock()
	if ln == nil {
		go ms.rebind(h, log)
		return
	}
	ms.start(ln, h, log)
}

// start serves ln with h.
func (ms *metadataService) start(ln net.Listener, h *metadata.Handler, log *slog.Logger) {
	srv := metadata.NewServer(ln, tcpguard.Config{Name: "metadata service", UID: os.Getuid(), Log: log}, ms.paths, h)
	ms.mu.Lock()
	ms.ln, ms.srv, ms.err = ln, srv, nil
	ms.mu.Unlock()
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("metadata service stopped serving; tokens over the socket still work; restart dbx-credd to serve it again", "err", err)
		}
	}()
}

// rebind tries the port until it is free, then serves it. The port stays
// the one asked for (or remembered): the URLs handed out point at it.
func (ms *metadataService) rebind(h *metadata.Handler, log *slog.Logger) {
	t := time.NewTicker(rebindEvery)
	defer t.Stop()
	for {
		select {
		case <-ms.done:
			return
		case <-t.C:
		}
		ln, err := metadata.Bind(ms.bind, slog.New(slog.DiscardHandler))
		if err != nil {
			ms.mu.Lock()
			ms.err = err
			ms.mu.Unlock()
			continue
		}
		select {
		case <-ms.done:
			ln.Close()
			return
		default:
		}
		ms.start(ln, h, log)
		log.Info("metadata service up: its port is free now", "addr", metadata.BaseURL(ln))
		return
	}
}

// stop ends the retries and lets requests in flight finish, for at most 5 s.
func (ms *metadataService) stop(log *slog.Logger) {
	if ms.off {
		return
	}
	ms.mu.Lock()
	close(ms.done)
	srv := ms.srv
	ms.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("metadata service did not stop cleanly", "err", err)
	}
}

// urls is what the MetadataURL RPC hands out from; nil when off (the core
// then says the service is off).
func (ms *metadataService) urls() core.MetadataURLs {
	if ms.off {
		return nil
	}
	return liveURLs{ms}
}

// liveURLs hands out URLs of the port while it is served, and says why
// there are none while it is not; a logged-out profile's URL secret is
// forgotten either way, so a later profile of the same name does not
// inherit it.
type liveURLs struct{ ms *metadataService }

func (l liveURLs) URL(ctx context.Context, profile string, rotate bool) (string, error) {
	l.ms.mu.Lock()
	srv, err := l.ms.srv, l.ms.err
	l.ms.mu.Unlock()
	if srv == nil {
		return "", fmt.Errorf("the metadata service of this dbx-credd is not serving, so it has no URL to hand out: %w (dbx-cred status shows it; it takes the port as soon as it is free; tokens over the socket still work, e.g. dbx-cred token or --via cli)", err)
	}
	return srv.URL(ctx, profile, rotate)
}

func (l liveURLs) Forget(ctx context.Context, profile string) error {
	return l.ms.paths.Forget(ctx, profile)
}

func (l liveURLs) ForgetAll() { l.ms.paths.ForgetAll() }

// State implements core.MetadataURLs: the base URL while serving, else
// why not.
func (l liveURLs) State() (base, errText string) {
	l.ms.mu.Lock()
	defer l.ms.mu.Unlock()
	if l.ms.srv != nil {
		return metadata.BaseURL(l.ms.ln), ""
	}
	if l.ms.err != nil {
		return "", l.ms.err.Error()
	}
	return "", ""
}

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
