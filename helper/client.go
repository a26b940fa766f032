package helper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// call dials the daemon, runs fn with a client under timeout, and turns a
// failure into a message and exit code.
func (c *cli) call(timeout time.Duration, fn func(ctx context.Context, client agent) error) error {
	return c.callWithin(context.Background(), timeout, fn)
}

// callWithin is call for a caller that can also end the call early
// through parent (a Ctrl-C during a browser login): the connection then
// closes, which is how the daemon learns that nobody waits any more.
func (c *cli) callWithin(parent context.Context, timeout time.Duration, fn func(ctx context.Context, client agent) error) error {
	c.socket = safesocket.Path(c.io.Getenv)
	dialed := &dialTracker{socket: c.socket}
	err := c.callOnce(parent, timeout, fn, dialed)
	// No daemon reached: start one if none answers yet (autostart.go) and
	// try once more. Nothing reached a daemon, so repeating fn repeats nothing.
	if err != nil && !dialed.connected.Load() && c.mayAutostart(err) {
		if serr := c.autostart(); serr != nil {
			return serr
		}
		err = c.callOnce(parent, timeout, fn, &dialTracker{socket: c.socket})
	}
	if err != nil {
		return c.rpcError(err)
	}
	return nil
}

// callOnce is one connection and one fn; its error is fn's, unmapped.
func (c *cli) callOnce(parent context.Context, timeout time.Duration, fn func(ctx context.Context, client agent) error, dialed *dialTracker) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	// The socket's 0700 directory and the peer checks on both sides are
	// the security boundary; transport encryption would add nothing
	// locally. The dial checks, before anything is sent, that the server
	// is ours: a login sends a PAT, git erase a password.
	nc, err := dialed.dial(ctx)
	if err != nil {
		if terr := untrusted(err); terr != nil {
			return terr
		}
		return &grpcwire.Status{Code: grpcwire.Unavailable, Kind: errkind.NoDaemon, Message: fmt.Sprintf(
			"dbx-credd is not running (nothing answers on %s): start it with \"dbx-credd run &\", "+
				"or set DBX_CRED_SOCKET if it serves elsewhere", c.socket)}
	}
	conn := grpcwire.NewConn(nc)
	defer conn.Close()
	err = fn(ctx, agent{conn: conn})
	// Our own deadline, not a status the daemon sent: something accepted
	// the connection and then said nothing in time. The socket's read
	// deadline can fire a moment before ctx's timer, hence the clock.
	if d, _ := ctx.Deadline(); grpcwire.CodeOf(err) == grpcwire.DeadlineExceeded && !time.Now().Before(d) {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("dbx-credd on %s accepted the connection but did not answer within %s: "+
			"it may be stuck (waiting on the keyring, say): see its log, then dbx-cred daemon restart, "+
			"or set DBX_CRED_SOCKET if yours serves elsewhere", c.socket, timeout)}
	}
	return err
}

// untrusted turns a refusal by safesocket.Dial into the helper's error: a
// socket directory or a server that another user controls is exit 2, as
// for no daemon, but is never a reason to start one there.
func untrusted(err error) error {
	var (
		de *safesocket.DirError
		pe *safesocket.PeerError
	)
	if errors.As(err, &de) || errors.As(err, &pe) {
		return &exitError{code: exitNoDaemon, msg: "refusing to talk to dbx-credd, nothing was sent: " + err.Error()}
	}
	return nil
}

// rpcError gives a failed call the exit code of its kind (internal/errkind).
// The daemon sends the kind; the client made up the ones it saw itself
// (no daemon, a hang-up, its own deadline), so nothing is guessed here.
func (c *cli) rpcError(err error) error {
	var st *grpcwire.Status
	if !errors.As(err, &st) {
		return err
	}
	msg := st.Message
	if st.Kind == errkind.Timeout {
		msg = "dbx-credd did not answer in time: " + msg
	}
	return &exitError{code: st.Kind.Exit(), msg: msg}
}
