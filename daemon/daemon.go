// Package daemon wires dbx-credd together: hardening, the keyring store, the
// profile manager, the private socket with its peer check, and the gRPC
// service. Each piece lives in its own subpackage; this one only assembles
// them and runs them until the context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/adapter/forward"
	"github.com/dbx-cred/dbx-cred/daemon/adapter/grpcapi"
	"github.com/dbx-cred/dbx-cred/daemon/adapter/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/adapter/proxy"
	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/harden"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store/file"
	"github.com/dbx-cred/dbx-cred/daemon/store/manage"
	"github.com/dbx-cred/dbx-cred/daemon/store/oskeyring"
	"github.com/dbx-cred/dbx-cred/daemon/unarygrpc"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	"github.com/dbx-cred/dbx-cred/internal/version"
)

// storeWatchEvery is how often the store is probed, so one that starts
// answering (or stops) shows in status and is used without a restart.
const storeWatchEvery = 5 * time.Second

// Config is how dbx-credd run was asked to run. Empty fields take defaults.
type Config struct {
	Socket         string        // default: safesocket.Path
	RegistryPath   string        // default: registry.DefaultPath
	KeyringTimeout time.Duration // default: oskeyring.DefaultTimeout
	// MetadataListen is --metadata-listen: "" for the remembered port,
	// else metadata.DefaultListen, else any free one (remembered next to
	// the registry, metadata.StateFile); "off" disables it.
	MetadataListen string
	// Store is --store: auto (the default), os, file or keyctl.
	Store string
	// FileStore is the file store's path; default file.DefaultPath.
	FileStore string
	// StartedBy is --started-by: "service", "autostart" or "" (by hand),
	// for dbx-cred doctor.
	StartedBy string
	Getenv    func(string) string
	Log       *slog.Logger
}

// Run serves until ctx is done, then stops gracefully and removes the socket.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if testHooksBuilt {
		log.Warn("this dbx-credd is a test build (-tags dbxcredtest): test hooks read the environment; do not use it for real credentials")
	}
	hardened, err := harden.Apply()
	if err != nil {
		log.Warn("process hardening incomplete", "err", err)
	}
	if err := cfg.fillDefaults(getenv); err != nil {
		return err
	}
	recoverRegistry(cfg.RegistryPath, log)
	c, err := openCore(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}

	ln, err := safesocket.Listen(cfg.Socket)
	if err != nil {
		return err
	}
	defer ln.Close()

	// After the socket: a second daemon must fail with "already serving",
	// not with the port the first one holds.
	meta := bindMetadata(metadata.BindConfig{
		Listen:    cfg.MetadataListen,
		Preferred: metadataDefault(getenv, metadata.DefaultListen),
		StatePath: filepath.Join(filepath.Dir(cfg.RegistryPath), metadata.StateFile),
	}, c.mgr, c.sts.Store(), fmt.Sprintf("the dbx-credd of pid %d (registry %s)", os.Getpid(), cfg.RegistryPath), log)
	// Shutdown over the socket (dbx-cred daemon stop) ends the same way as
	// SIGTERM: after the answer is sent, gracefully.
	shutdown := make(chan struct{})
	var once sync.Once
	fwds := forward.New(filepath.Dir(cfg.Socket), os.Getuid(), log)
	// Forwarding sockets end with the daemon: none outlives it.
	defer fwds.Close()
	proxies := proxy.New(filepath.Join(filepath.Dir(cfg.RegistryPath), proxy.StateFile), os.Getuid(), log)
	defer proxies.Close()
	svc, err := core.New(core.Config{
		Profiles:   c.mgr,
		Info:       info(cfg, c, hardened),
		Log:        log,
		Audit:      audit.New(audit.DefaultSize, log),
		Stores:     c.sts,
		Getenv:     getenv,
		Logins:     core.NewLogins(core.OAuthOptions{}, log),
		CLIKeyring: oskeyring.NewKeyring(core.CLIKeyringService, cfg.KeyringTimeout, getenv),
		Metadata:   meta.urls(),
		Forwards:   fwds,
		Proxies:    proxies,
		Shutdown:   func() { once.Do(func() { close(shutdown) }) },
	})
	if err != nil {
		return err
	}
	fwds.Serve(svc)
	proxies.Serve(svc)
	meta.serve(svc, log)
	defer meta.stop(log)
	g := grpcapi.NewSocketServer(grpcapi.New(svc), os.Getuid(), log)
	var metaBase, metaErr string
	if u := meta.urls(); u != nil {
		metaBase, metaErr = u.State()
	}
	log.Info("dbx-credd serving", "socket", cfg.Socket, "registry", cfg.RegistryPath,
		"store", c.chosen, "keyring", c.sts.Store().Backend(), "profiles", len(c.mgr.Names()), "hardened", hardened, "version", version.Version,
		"metadata_listen", metaBase, "metadata_down", metaErr != "")
	defer c.startBackground()()
	return serve(ctx, g, ln, cfg.Socket, shutdown, log)
}

// info describes the running daemon for status.
func info(cfg Config, c opened, hardened bool) core.Info {
	return core.Info{
		Version:        version.Version,
		PID:            os.Getpid(),
		Started:        time.Now(),
		Socket:         cfg.Socket,
		RegistryPath:   cfg.RegistryPath,
		KeyringBackend: c.sts.Store().Backend(),
		Hardened:       hardened,
		StartedBy:      startedBy(cfg.StartedBy),
	}
}

// fillDefaults sets the paths the configuration left empty.
func (cfg *Config) fillDefaults(getenv func(string) string) error {
	var err error
	if cfg.Socket == "" {
		cfg.Socket = safesocket.Path(getenv)
	}
	if cfg.RegistryPath == "" {
		if cfg.RegistryPath, err = registry.DefaultPath(); err != nil {
			return err
		}
	}
	if cfg.FileStore == "" {
		if cfg.FileStore, err = file.DefaultPath(getenv); err != nil {
			return err
		}
	}
	return nil
}

// opened is what serving needs behind the socket: the profiles, and the
// stores they live in.
type opened struct {
	mgr    *profiles.Manager
	sts    *manage.Stores
	chosen string // the store's name, "" when none is usable yet
}

// openCore chooses the store (the one the profiles were recorded in, or
// the configured one) and loads the profiles over it.
func openCore(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger) (opened, error) {
	choice, err := manage.ParseChoice(cfg.Store)
	if err != nil {
		return opened{}, err
	}
	scfg := manage.Config{KeyringTimeout: cfg.KeyringTimeout, Getenv: getenv, FilePath: cfg.FileStore,
		FileWork: scryptWork(getenv), KeyctlRing: keyctlRing(getenv, "")}
	reg, err := registry.Load(cfg.RegistryPath)
	if err != nil {
		return opened{}, fmt.Errorf("load profiles: %w", err)
	}
	recorded := map[string][]string{}
	for _, p := range reg.Profiles {
		recorded[registry.StoreOf(p)] = append(recorded[registry.StoreOf(p)], p.Name)
	}
	chosen, err := manage.Choose(ctx, choice, recorded, scfg, log)
	if err != nil {
		return opened{}, err
	}
	ws := workspace.New(30 * time.Second)
	mgr, err := profiles.New(cfg.RegistryPath, chosen.Main, ws, profiles.Rotation{
		Tokens:  ws.Tokens,
		Derived: chosen.Derived,
		CrashAt: crashHook(getenv, log),
		Getenv:  getenv,
	}, log)
	if err != nil {
		return opened{}, fmt.Errorf("load profiles: %w", err)
	}
	// A profile's metadata URL secret moves with it in a migration.
	sts := manage.New(ctx, chosen, mgr, func(p string) []string { return []string{metadata.Key(mgr.InstallID(), p), metadata.LegacyKey(p)} }, scfg, log)
	if chosen.Name == "" {
		log.Warn("no store is usable: serving the socket, refusing logins until one is chosen or the OS keyring answers", "choices", manage.Choices(cfg.FileStore))
	}
	return opened{mgr: mgr, sts: sts, chosen: chosen.Name}, nil
}

// startBackground runs renewals, the leftover clean-up and the store
// watch beside the server; the function it returns stops them, after the
// server on the way out, keeping minted tokens for the next daemon.
func (c opened) startBackground() (stop func()) {
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() { c.mgr.Run(bgCtx, time.Hour); close(bgDone) }()
	watchDone := make(chan struct{})
	go func() { c.sts.Watch(bgCtx, storeWatchEvery); close(watchDone) }()
	return func() { stopBg(); <-bgDone; <-watchDone }
}

// serve runs g on ln until ctx ends or shutdown closes, then stops it
// gracefully within 5 s.
func serve(ctx context.Context, g *unarygrpc.Server, ln net.Listener, socket string, shutdown <-chan struct{}, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	asked := false
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, unarygrpc.ErrServerStopped) {
			return fmt.Errorf("serve on %s: %w", socket, err)
		}
		return nil
	case <-ctx.Done():
	case <-shutdown:
		asked = true
	}
	log.Info("shutting down", "cause", context.Cause(ctx), "asked_over_socket", asked)
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
	}
	return nil
}

// recoverRegistry repairs a profile registry that does not parse from the
// copy the last write kept, before the profile manager reads it: every
// secret is still in the keyring, so the daemon should serve rather than
// stop. It only logs; when even the backup is unusable, loading the
// profiles fails with what to do.
func recoverRegistry(path string, log *slog.Logger) {
	rec, err := registry.Recover(path)
	if rec.Reason == "" && err == nil {
		return
	}
	attrs := []any{"registry", path, "reason", rec.Reason, "backup", rec.Backup, "profiles", rec.Profiles,
		"fix", "profiles logged in or changed after the backup was written are missing: log them in again with dbx-cred login -p NAME"}
	if rec.KeptAs != "" {
		attrs = append(attrs, "damaged_copy", rec.KeptAs)
	}
	if err != nil {
		// Loading falls back to the backup in memory all the same, and the
		// next write keeps the damaged file before replacing it.
		log.Warn("the profile registry does not parse and could not be repaired on disk: serving the profiles of its backup", append(attrs, "err", err)...)
		return
	}
	log.Warn("the profile registry does not parse: restored it from its backup and kept the damaged file", attrs...)
}

// startedBy names who started the daemon; a flag, not a guess from the
// parent process, which a service manager or a shell may have replaced.
func startedBy(flag string) string {
	if flag == "" {
		return "hand"
	}
	return flag
}
