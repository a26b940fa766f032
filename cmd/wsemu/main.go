// Command wsemu serves a fake Databricks workspace for manual testing of
// dbx-cred and other Databricks clients. See internal/testkit/wsemu.
package main

import (
	"context"
	"errors"
	"flag"
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "wsemu:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wsemu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (plain HTTP)")
	userName := fs.String("user", "alice@example.com", "user to create; a never-expiring PAT is issued for it, and OAuth logins approve as it")
	gitRepo := fs.String("git-repo", "", "also serve this bare git repository over smart HTTP at /<its base name>/, behind Basic auth accepting any token valid here")
	accountID := fs.String("account-id", "", "account id of the account-level OAuth endpoints (default: random)")
	accessLifetime := fs.Duration("oauth-access-lifetime", time.Hour, "lifetime of OAuth access tokens")
	revocation := fs.Bool("oauth-revocation", false, "serve RFC 7009 revocation at /oidc/v1/revoke and name it in discovery (real workspaces name none)")
	refreshLatency := fs.Duration("oauth-refresh-latency", 0, "delay every OAuth refresh_token grant by this much, so overlapping refreshes show")
	var principals []string
	fs.Func("service-principal", "register an OAuth service principal `APPID:SECRET` for client_credentials (repeatable)", func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want APPID:SECRET")
		}
		principals = append(principals, v)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: wsemu [--listen ADDR] [--user NAME] [--git-repo DIR] [--service-principal APPID:SECRET]...

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
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *accessLifetime <= 0 {
		return fmt.Errorf("--oauth-access-lifetime must be positive, got %s", *accessLifetime)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	opts := []wsemu.Option{
		wsemu.WithAccountID(*accountID), // "" keeps the random default
		wsemu.WithOAuthAccessLifetime(*accessLifetime),
		wsemu.WithOAuthRefreshLatency(*refreshLatency),
	}
	if *revocation {
		opts = append(opts, wsemu.WithOAuthRevocation())
	}
	emu := wsemu.New(opts...)
	pat := emu.AddUser(*userName)
	emu.AddOAuthUser(*userName)
	for _, p := range principals {
		id, secret, _ := strings.Cut(p, ":")
		emu.AddServicePrincipal(id, secret)
	}
	var handler http.Handler = emu
	gitURL := ""
	if *gitRepo != "" {
		prefix, git, err := gitserve.New(*gitRepo, emu.Authenticate)
		if err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle(prefix, git)
		mux.Handle("/", emu)
		handler = mux
		gitURL = fmt.Sprintf(" git=http://%s%s", ln.Addr(), strings.TrimSuffix(prefix, "/"))
	}
	// Print the bound address, not the flag, so --listen 127.0.0.1:0 works.
	fmt.Fprintf(stdout, "host=http://%s user=%s pat=%s account=%s%s\n", ln.Addr(), *userName, pat, emu.AccountID(), gitURL)

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
