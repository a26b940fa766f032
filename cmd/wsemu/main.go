// Command wsemu serves a fake Databricks workspace for manual testing of
// dbx-cred and other Databricks clients. See internal/testkit/wsemu.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/gitserve"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "wsemu:", err)
		os.Exit(1)
	}
}

// config is what the command line asked for.
type config struct {
	listen, userName, gitRepo, accountID string
	accessLifetime, refreshLatency       time.Duration
	revocation                           bool
	principals                           []string
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	emu, handler, gitURL, err := newEmulator(cfg, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	// Print the bound address, not the flag, so --listen 127.0.0.1:0 works.
	fmt.Fprintf(stdout, "host=http://%s user=%s pat=%s account=%s%s\n", ln.Addr(), cfg.userName, emu.pat, emu.AccountID(), gitURL)
	return serve(ctx, &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// parseFlags reads the command line. --help goes to stdout, as the answer
// asked for; a usage error to stderr, with where the help is.
func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("wsemu", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address to listen on (plain HTTP)")
	fs.StringVar(&cfg.userName, "user", "alice@example.com", "user to create; a never-expiring PAT is issued for it, and OAuth logins approve as it")
	fs.StringVar(&cfg.gitRepo, "git-repo", "", "also serve this bare git repository over smart HTTP at /<its base name>/, behind Basic auth accepting any token valid here")
	fs.StringVar(&cfg.accountID, "account-id", "", "account id of the account-level OAuth endpoints (default: random)")
	fs.DurationVar(&cfg.accessLifetime, "oauth-access-lifetime", time.Hour, "lifetime of OAuth access tokens")
	fs.BoolVar(&cfg.revocation, "oauth-revocation", false, "serve RFC 7009 revocation at /oidc/v1/revoke and name it in discovery (real workspaces name none)")
	fs.DurationVar(&cfg.refreshLatency, "oauth-refresh-latency", 0, "delay every OAuth refresh_token grant by this much, so overlapping refreshes show")
	fs.Func("service-principal", "register an OAuth service principal `APPID:SECRET` for client_credentials (repeatable)", func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want APPID:SECRET")
		}
		cfg.principals = append(cfg.principals, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			usage(stdout, fs)
			return cfg, err
		}
		return cfg, fmt.Errorf("%w (wsemu --help shows the flags)", err)
	}
	if cfg.accessLifetime <= 0 {
		return cfg, fmt.Errorf("--oauth-access-lifetime must be positive, got %s", cfg.accessLifetime)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q (wsemu --help shows the flags)", fs.Args())
	}
	return cfg, nil
}

func usage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprint(w, `Usage: wsemu [--listen ADDR] [--user NAME] [--git-repo DIR] [--service-principal APPID:SECRET]...

wsemu is a TEST DOUBLE of a Databricks workspace, not a real workspace. It
emulates host metadata, SCIM Me, the Token API (create/list/delete) and
OAuth in memory, over plain HTTP, so credential tooling can be exercised
without a real account. Tokens it issues are worthless anywhere else, which
is why it prints its fake PAT:

  host=http://ADDR user=USER pat=dapi... account=ACCOUNT_ID

OAuth: discovery at /oidc/.well-known/oauth-authorization-server; U2M logins
(client id databricks-cli, PKCE S256, redirect to http://localhost:PORT or
http://127.0.0.1:PORT) are approved at once for USER, as if USER had clicked
"allow"; refresh tokens rotate and reusing a superseded one revokes the
login. Service principals get tokens by client_credentials with Basic auth.
Account-level endpoints: /oidc/accounts/ACCOUNT_ID/v1/{authorize,token}.
With --oauth-revocation, logins can also be revoked at /oidc/v1/revoke.

With --git-repo the same address is also a git host (as a workspace is for
Git folders), and the line ends with git=http://ADDR/NAME.git.

State is lost when it exits (SIGINT/SIGTERM).

Flags:
`)
	fmt.Fprint(w, fs.FlagUsages())
}

// emulator is the fake workspace and the PAT it issued to the user.
type emulator struct {
	*wsemu.Emulator
	pat string
}

// newEmulator builds the workspace (and the git host, with --git-repo) that
// addr will serve; gitURL is the banner's " git=..." part, or "".
func newEmulator(cfg config, addr string) (emu emulator, handler http.Handler, gitURL string, err error) {
	opts := []wsemu.Option{
		wsemu.WithAccountID(cfg.accountID), // "" keeps the random default
		wsemu.WithOAuthAccessLifetime(cfg.accessLifetime),
		wsemu.WithOAuthRefreshLatency(cfg.refreshLatency),
	}
	if cfg.revocation {
		opts = append(opts, wsemu.WithOAuthRevocation())
	}
	emu.Emulator = wsemu.New(opts...)
	emu.pat = emu.AddUser(cfg.userName)
	emu.AddOAuthUser(cfg.userName)
	for _, p := range cfg.principals {
		id, secret, _ := strings.Cut(p, ":")
		emu.AddServicePrincipal(id, secret)
	}
	if cfg.gitRepo == "" {
		return emu, emu.Emulator, "", nil
	}
	prefix, git, err := gitserve.New(cfg.gitRepo, emu.Authenticate)
	if err != nil {
		return emu, nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle(prefix, git)
	mux.Handle("/", emu.Emulator)
	return emu, mux, fmt.Sprintf(" git=http://%s%s", addr, strings.TrimSuffix(prefix, "/")), nil
}

// serve runs srv on ln until ctx ends, then shuts it down within 5 s.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
