package helper

import (
	"context"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/client"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// daemon is the client for a call to dbx-credd (helper/client). With
// autostart, a call that finds no daemon starts one, as gpg starts
// gpg-agent, unless the user turned that off; commands that report on
// the daemon pass false, as finding none is their answer.
func (c *cli) daemon(autostart bool) *client.Client {
	cl := &client.Client{Socket: c.socketPath()}
	if autostart && c.autostartAllowed() {
		cl.Start = func() error { return c.autostart(cl.Socket) }
	}
	return cl
}

// socketPath is where this invocation looks for dbx-credd.
func (c *cli) socketPath() string { return safesocket.Path(c.io.Getenv) }

// within is the context of one call that waits at most timeout.
func within(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}
