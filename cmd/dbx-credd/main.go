// Command dbx-credd is the dbx-cred daemon: it keeps workspace credentials in
// the OS keyring and serves tokens to the dbx-cred helper over a private
// Unix socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon"
	"github.com/dbx-cred/dbx-cred/daemon/adapter/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/logfile"
	"github.com/dbx-cred/dbx-cred/daemon/memtrim"
	"github.com/dbx-cred/dbx-cred/daemon/service"
	"github.com/dbx-cred/dbx-cred/daemon/store/manage"
	"github.com/dbx-cred/dbx-cred/daemon/store/oskeyring"
	"github.com/dbx-cred/dbx-cred/internal/manpage"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	"github.com/dbx-cred/dbx-cred/internal/version"
)

// memtrimInterval is how often the daemon looks for a quiet spell in
// which to give a burst's garbage back (daemon/memtrim).
const memtrimInterval = 5 * time.Second

// defaultGCPercent is run's GOGC unless the environment sets one; measured
// with bench's BenchmarkGetToken64 (CPU and peak RSS per GOGC).
const defaultGCPercent = 400

const usage = `dbx-credd keeps your Databricks credentials in the OS keyring and serves
short-lived access to them over a private socket. You talk to it with dbx-cred.

Usage:
  dbx-credd run [flags]     run in the foreground until SIGINT or SIGTERM
  dbx-credd install         install it as a service of your user that starts at
                            login and restarts on failure (does not start it now)
  dbx-credd uninstall       stop the service and remove it
  dbx-credd start | stop    start or stop the installed service now
  dbx-credd status          is the service installed, running, answering?
  dbx-credd version         print the version
  dbx-credd help            show this help

Flags of run:
  --socket PATH             socket to serve on (default: $DBX_CRED_SOCKET, else
                            $XDG_RUNTIME_DIR/dbx-cred/agent.sock, else a private
                            directory under the temp dir named with your uid)
  --log-level LEVEL         debug, info, warn or error (default info); logs never
                            contain secrets
  --log-file PATH           log to PATH (0600) instead of stderr, moved aside to
                            PATH.1 at 8 MiB, for runs without a journal (the
                            launchd agent, the Windows logon start and dbx-cred's
                            autostart use it)
  --keyring-timeout DUR     bound on every keyring call (default 5s)
  --store STORE             where secrets are kept (default: $DBX_CRED_STORE, else auto):
                              os      the OS keyring (Secret Service, Keychain,
                                      Credential Manager)
                              file    an age-encrypted file,
                                      $XDG_DATA_HOME/dbx-cred/secrets.age; the daemon
                                      starts locked until dbx-cred unlock
                              keyctl  the Linux kernel keyring (cleared at reboot)
                              auto    the store the registry records for your
                                      profiles, else the OS keyring when it answers;
                                      else the daemon serves but refuses logins
                                      and lists the stores to choose from
                            The daemon refuses to start on a store other than
                            the one your profiles live in: dbx-cred store
                            migrate moves them
  --started-by WHO          service or autostart, as the service unit and dbx-cred's
                            autostart pass it, so dbx-cred doctor can say who
                            started the daemon (default: hand)
  --metadata-listen ADDR    where the metadata service for Databricks SDKs listens:
                            127.0.0.1:PORT exactly, 0 for a free port chosen once
                            and remembered, or off (default: $DBX_CRED_METADATA_LISTEN,
                            else automatic: the remembered port, else 127.0.0.1:8471,
                            else a free port, remembered). The port is remembered in
                            $XDG_CONFIG_HOME/dbx-cred/metadata-listen.json so the
                            URLs dbx-cred hands out keep working across restarts;
                            when it is taken later, the service stays down (with the
                            reason in the log and in dbx-cred status) instead of
                            moving. Either way tokens over the socket keep working.
                            Each profile gets its own secret URL (dbx-cred
                            metadata-url -p NAME); on Linux only your user's
                            processes are answered

The service (install):
  Linux    a systemd user unit, ~/.config/systemd/user/dbx-credd.service
           (WantedBy=default.target, Restart=on-failure); logs: journalctl --user -u dbx-credd
  macOS    a launchd agent, ~/Library/LaunchAgents/io.github.dbx-cred.dbx-credd.plist
           (RunAtLoad, KeepAlive); logs: ~/Library/Logs/dbx-cred/dbx-credd.log
  Windows  not a Windows service (that runs as LocalSystem and cannot see your
           Credential Manager) but a logon start of your user: the value
           "dbx-credd" under HKCU\Software\Microsoft\Windows\CurrentVersion\Run;
           logs: %LOCALAPPDATA%\dbx-cred\dbx-credd.log
           "stop" is not supported there: end dbx-credd.exe in Task Manager
  It runs this dbx-credd executable with "run". DBX_CRED_SOCKET,
  DBX_CRED_METADATA_LISTEN and DBX_CRED_STORE, when set at install time, are carried into it;
  otherwise it serves on the default socket, where dbx-cred looks. Without a
  service, dbx-cred starts "dbx-credd run" itself on first use (set
  DBX_CRED_NO_AUTOSTART=1 to turn that off).

Secrets live only in the chosen store (in the OS keyring: service "dbx-cred",
one item per profile). dbx-cred daemon stop|restart|status works on any
running dbx-credd, however it was started.
Non-secret profile data lives in $XDG_CONFIG_HOME/dbx-cred/profiles.json;
each write keeps the previous file as profiles.json.1, which the daemon falls
back to (with a warning in its log) when profiles.json does not parse.

run collects garbage as if GOGC=400 unless GOGC is set: under load that is
about a fifth less CPU per token for a dozen MB more memory (bench/README.md).

Exit status: 0 after a clean shutdown, 1 when the daemon cannot start (the
message says why and how to fix it), 3 when another dbx-credd already serves
the socket, 64 on a usage error. status exits 0 when a daemon answers on the
socket and 3 when none does.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 64
	}
	switch args[0] {
	case "run":
		return runDaemon(args[1:], stderr)
	case "install", "uninstall", "start", "stop", "status":
		return manageService(args[0], args[1:], stdout, stderr)
	case "__man":
		// dbx-credd(1), from the same text as its help (install.sh).
		if err := (manpage.Page{Name: "dbx-credd", Summary: "the dbx-cred daemon: keeps Databricks credentials in a store and serves short-lived tokens",
			Version: version.Version, Sections: []manpage.Section{{Title: "DESCRIPTION", Body: usage}}}).Write(stdout); err != nil {
			fmt.Fprintln(stderr, "dbx-credd:", err)
			return 1
		}
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "dbx-credd %s\n", version.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "dbx-credd: unknown command %q\n\n%s", args[0], usage)
	return 64
}

func runDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dbx-credd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", "", "")
	level := fs.String("log-level", "info", "")
	logFile := fs.String("log-file", "", "")
	timeout := fs.Duration("keyring-timeout", oskeyring.DefaultTimeout, "")
	// From the environment too, so a daemon that a service manager or
	// dbx-cred's autostart runs listens where the user chose; "" is the
	// automatic, remembered choice (daemon/adapter/metadata.Bind).
	metadataListen := fs.String("metadata-listen", os.Getenv(service.EnvMetadataListen), "")
	storeChoice := fs.String("store", os.Getenv(service.EnvStore), "")
	startedBy := fs.String("started-by", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 64
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dbx-credd run: unexpected argument %q (secrets are never taken as arguments)\n", fs.Arg(0))
		return 64
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "dbx-credd run: --log-level %q: use debug, info, warn or error\n", *level)
		return 64
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "dbx-credd run: --keyring-timeout must be positive, e.g. 5s\n")
		return 64
	}
	if _, err := manage.ParseChoice(*storeChoice); err != nil {
		fmt.Fprintf(stderr, "dbx-credd run: %v\n", err)
		return 64
	}
	switch *startedBy {
	case "", "hand", "service", "autostart":
	default:
		fmt.Fprintf(stderr, "dbx-credd run: --started-by %q: use service, autostart or hand\n", *startedBy)
		return 64
	}
	if _, _, err := metadata.ParseListen(*metadataListen); err != nil {
		fmt.Fprintf(stderr, "dbx-credd run: %v\n", err)
		return 64
	}
	var logTo io.Writer = stderr
	if *logFile != "" {
		f, err := logfile.Open(*logFile, logfile.DefaultMax)
		if err != nil {
			fmt.Fprintf(stderr, "dbx-credd run: --log-file %s: %v\n", *logFile, err)
			return 1
		}
		defer f.Close()
		logTo = f
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: lvl}))
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MB, so at the default of 100 a busy daemon
		// collects dozens of times a second; the user's GOGC still wins.
		debug.SetGCPercent(defaultGCPercent)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// With that GOGC, garbage left by a burst stays resident until the
	// runtime's forced collection two minutes later: give it back sooner.
	go memtrim.Run(ctx, memtrimInterval)
	err := daemon.Run(ctx, daemon.Config{Socket: *socket, KeyringTimeout: *timeout, MetadataListen: *metadataListen, Store: *storeChoice, StartedBy: *startedBy, Log: log})
	if err != nil {
		msg := strings.TrimSpace(err.Error())
		if *logFile != "" {
			log.Error("dbx-credd stopped", "error", msg) // stderr may go nowhere
		}
		fmt.Fprintf(stderr, "dbx-credd: %s\n", msg)
		// Its own status, so a service manager (RestartPreventExitStatus=3)
		// and dbx-cred's autostart can tell "lost the race" from "broken".
		if errors.Is(err, safesocket.ErrAlreadyRunning) {
			return 3
		}
		return 1
	}
	return 0
}
