package helper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// exitInterrupted is the shell's code for a command ended by SIGINT
// (128+2), which a cancelled browser login returns so scripts see it as
// an interruption, not a failure of the login itself.
const exitInterrupted = 130

// oauthLoginSlack is how long past the daemon's own deadline the helper
// waits: the daemon gives up first and says why, rather than the helper
// guessing.
const oauthLoginSlack = 15 * time.Second

// oauthLoginFallback is the wait when the daemon sends no deadline; the
// daemon's logins give up after 5 minutes (agent.proto).
const oauthLoginFallback = 5*time.Minute + oauthLoginSlack

// loginOAuth runs a U2M login: the daemon holds the PKCE verifier, the
// callback listener and the tokens; the helper only shows the URL, starts
// a browser and waits. Nothing secret passes through the helper.
func (c *cli) loginOAuth(req *pb.BeginOAuthLoginRequest, noBrowser bool) error {
	// Ctrl-C ends the wait, and the closed connection ends the login in
	// the daemon (AwaitOAuthLogin's contract), so its listener goes too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	daemon := c.daemon(true)
	// The wait is the user's, in the browser: no notice.
	daemon.Waiting = nil
	beginCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	begin, err := daemon.BeginOAuthLogin(beginCtx, req)
	if errkind.Of(err) == errkind.Unsupported {
		err = &exitError{code: exitFailure, msg: "login --oauth: this dbx-credd cannot run browser logins " +
			"(BeginOAuthLogin is unimplemented): upgrade dbx-credd, then dbx-cred daemon restart"}
	}
	if ctx.Err() != nil {
		return loginCancelled()
	}
	if err != nil {
		return err
	}
	c.showAuthorizeURL(begin)
	if !noBrowser {
		if err := openBrowser(c.io.Getenv, begin.GetAuthorizeUrl()); err != nil {
			fmt.Fprintf(c.io.Stderr, "Note: could not open a browser (%s); open the URL above yourself.\n", printable(err.Error()))
		}
	}
	fmt.Fprintln(c.io.Stderr, "Waiting for the browser to come back (Ctrl-C cancels)...")
	wait := oauthLoginFallback
	if d := begin.GetDeadline(); d.IsValid() {
		wait = time.Until(d.AsTime()) + oauthLoginSlack
	}
	awaitCtx, cancelAwait := context.WithTimeout(ctx, max(wait, oauthLoginSlack))
	defer cancelAwait()
	resp, err := daemon.AwaitOAuthLogin(awaitCtx, &pb.AwaitOAuthLoginRequest{LoginId: begin.GetLoginId()})
	if ctx.Err() != nil {
		return loginCancelled()
	}
	if err != nil {
		return asOneLine(err)
	}
	c.printLogin(&pb.LoginResponse{Profile: resp.GetProfile(), Replaced: resp.GetReplaced()})
	return nil
}

// asOneLine shows a failed login's message as one line: it quotes the
// workspace's error_description, which is the server's text (or, on a
// shared machine, that of whoever reached the callback first), and a
// newline in it would print a line that reads like our own advice.
func asOneLine(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.code, msg: printable(ee.msg)}
	}
	return &exitError{code: exitCode(err), msg: printable(err.Error())}
}

func loginCancelled() error {
	return &exitError{code: exitInterrupted, msg: "login cancelled; nothing was stored"}
}

// showAuthorizeURL always prints the URL, browser or not: the browser may
// open on another screen, or not at all, and over SSH the URL is the only
// way in. Over SSH the callback listens on this machine's localhost, so
// the browser's machine needs a port forward to reach it.
func (c *cli) showAuthorizeURL(begin *pb.BeginOAuthLoginResponse) {
	fmt.Fprintf(c.io.Stderr, "To log in, open this URL in a browser:\n\n  %s\n\n", printable(begin.GetAuthorizeUrl()))
	if conn := c.io.Getenv("SSH_CONNECTION"); conn != "" && begin.GetCallbackPort() > 0 {
		port := begin.GetCallbackPort()
		fmt.Fprintf(c.io.Stderr, "This is an SSH session: the browser's redirect goes to localhost:%d, on this machine. "+
			"On the machine with the browser, forward that port first:\n\n  ssh -L %d:localhost:%d %s\n\n", port, port, port, sshTarget(conn))
	}
}

// sshTarget is how the user's ssh reached this machine, from
// SSH_CONNECTION ("client-ip client-port server-ip server-port"): the
// server address, with -p when the port is not 22. A value of another
// shape gives a placeholder.
func sshTarget(conn string) string {
	f := strings.Fields(conn)
	if len(f) != 4 || net.ParseIP(f[2]) == nil {
		return "<this host>"
	}
	host := f[2]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if f[3] != "22" {
		return "-p " + printable(f[3]) + " " + host
	}
	return host
}

// stdinHasData reports whether something was piped to stdin, without
// reading it: a login that reads no token says so rather than silently
// ignore one. A reader that knows its length (tests) is asked; a pipe is
// peeked at where the OS allows; a file must be non-empty.
func (c *cli) stdinHasData() bool {
	if r, ok := c.io.Stdin.(interface{ Len() int }); ok {
		return r.Len() > 0
	}
	f, ok := c.io.Stdin.(*os.File)
	if !ok || c.stdinIsTerminal() {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	switch {
	case fi.Mode().IsRegular():
		return fi.Size() > 0
	case fi.Mode()&os.ModeNamedPipe != 0:
		return pipeHasData(int(f.Fd()))
	}
	return false
}
