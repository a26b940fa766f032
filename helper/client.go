package helper

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/client"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// daemon is the client for a call to dbx-credd (helper/client). With
// autostart, a call that finds no daemon starts one, as gpg starts
// gpg-agent, unless the user turned that off; commands that report on
// the daemon pass false, as finding none is their answer.
func (c *cli) daemon(autostart bool) *client.Client {
	cl := &client.Client{Socket: c.socketPath(), Waiting: c.waiting("to answer")}
	// A forwarding socket's daemon is on another machine: starting one
	// here would serve nothing.
	if autostart && c.autostartAllowed() && !client.Forwarded(cl.Socket) {
		cl.Start = func() error { return c.autostart(cl.Socket) }
	}
	if v := c.io.Getenv(envSocketUID); v != "" {
		// A value that is not a uid trusts nobody else: the call then
		// meets the usual check, whose message names the server's uid.
		if uid, err := strconv.Atoi(v); err == nil && uid >= 0 {
			cl.ServedBy = &uid
		}
	}
	return cl
}

// envSocketUID names the uid that serves DBX_CRED_SOCKET when it is not
// ours: a forwarding socket another uid lent to this one (dbx-cred
// forward --allow-uid), e.g. in a container whose root is not you.
const envSocketUID = "DBX_CRED_SOCKET_UID"

// waiting is a Client.Waiting that says on stderr, once, what the call
// waits for, so that a slow answer (a stuck daemon, a workspace that does
// not answer) is not silence.
func (c *cli) waiting(what string) func(pid int) {
	return func(pid int) {
		who := "dbx-credd"
		if pid > 0 {
			who = fmt.Sprintf("dbx-credd (pid %d)", pid)
		}
		fmt.Fprintf(c.io.Stderr, "%s\n", c.prefix("waiting for "+who+" "+what+"…"))
	}
}

// socketPath is where this invocation looks for dbx-credd.
func (c *cli) socketPath() string { return safesocket.Path(c.io.Getenv) }

// within is the context of one call that waits at most timeout.
func within(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}
