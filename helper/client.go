package helper

import (
	"context"
	"fmt"
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
	if autostart && c.autostartAllowed() {
		cl.Start = func() error { return c.autostart(cl.Socket) }
	}
	return cl
}

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
