// Package core is the daemon's one service: the domain operations (token,
// login, OAuth begin/await and import, logout, rotate, the store's unlock,
// lock and migrate, status, diagnosis, metadata URLs, the audit) that every
// adapter calls: the gRPC socket (daemon/adapter/grpcapi), the metadata
// endpoint (daemon/adapter/metadata), and the forwarding socket and local
// proxy to come. Domain types go in and out, and every error carries its
// kind (internal/errkind), which each adapter turns into its own wire's
// status. Nothing here knows a wire.
package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/oauthlogin"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Info describes the running daemon for Status.
type Info struct {
	Version        string
	PID            int
	Started        time.Time
	Socket         string
	RegistryPath   string
	KeyringBackend string
	Hardened       bool
	MetadataListen string // base URL of the metadata service; "" when off or down
	MetadataError  string // why the metadata service is down; "" when it serves or is off
	StartedBy      string // "service", "autostart" or "hand" (dbx-credd run --started-by)
}

// Config is what the service is built from. Every field is required but
// Metadata, which is nil when the metadata service is off (dbx-credd run
// --metadata-listen off), and Shutdown, nil where the daemon cannot be
// stopped over its socket.
type Config struct {
	Profiles *profiles.Manager
	Info     Info
	Log      *slog.Logger
	Audit    *audit.Log
	Stores   Stores
	// Getenv is the daemon's environment, for the service manager's check
	// in Diagnose.
	Getenv func(string) string
	// Logins holds the U2M logins in progress.
	Logins *oauthlogin.Registry
	// CLIKeyring reads (and, after an import, deletes) the Databricks
	// CLI's own keyring items: a store.Store for CLIKeyringService.
	CLIKeyring store.Store
	Metadata   MetadataURLs
	// Forwards makes and ends forwarding sockets; nil where the platform
	// has none (the calls then say so).
	Forwards Forwards
	// Proxies serves local authenticating proxies; nil: none.
	Proxies  Proxies
	Shutdown func()
}

// Service is the core. It owns no mutable state of its own: each piece
// belongs to what it was built from (profiles, stores, logins, audit).
type Service struct {
	profiles   *profiles.Manager
	info       Info
	log        *slog.Logger
	audit      *audit.Log
	stores     Stores
	getenv     func(string) string
	logins     *oauthlogin.Registry
	cliKeyring store.Store
	metadata   MetadataURLs
	forwards   Forwards
	proxies    Proxies
	shutdown   func()
}

// New returns the service, refusing a configuration that lacks a required
// part (a wiring mistake, not a user's).
func New(c Config) (*Service, error) {
	if c.Profiles == nil || c.Log == nil || c.Audit == nil || c.Stores == nil || c.Getenv == nil || c.Logins == nil || c.CLIKeyring == nil {
		return nil, errors.New("core.New: profiles, log, audit, stores, getenv, logins and the CLI keyring are required")
	}
	return &Service{profiles: c.Profiles, info: c.Info, log: c.Log, audit: c.Audit, stores: c.Stores, getenv: c.Getenv,
		logins: c.Logins, cliKeyring: c.CLIKeyring, metadata: c.Metadata, forwards: c.Forwards, proxies: c.Proxies, shutdown: c.Shutdown}, nil
}

// Profiles is the profile manager, for adapters' read-only lookups.
func (s *Service) Profiles() *profiles.Manager { return s.profiles }

// fail logs err, the caller's failed op on profile, and returns it with its
// kind. Error texts never contain secrets: the layers below only ever put
// profile names and hosts in them.
func (s *Service) fail(ctx context.Context, op, profile string, err error) error {
	kind := errkind.Of(err)
	attrs := append([]any{"op", op, "profile", profile, "kind", kind.String(), "err", err}, peerAttrs(ctx)...)
	switch kind {
	case errkind.Internal, errkind.StoreUnusable, errkind.StoreLocked:
		s.log.Error("request failed", attrs...)
	default:
		s.log.Info("request refused", attrs...)
	}
	return errkind.Wrap(kind, err)
}

// peerAttrs are the log attributes naming the caller.
func peerAttrs(ctx context.Context) []any {
	if p, ok := peercred.FromContext(ctx); ok {
		return []any{"peer_uid", p.UID, "peer_pid", p.PID}
	}
	return nil
}
