package helper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// call dials the daemon, runs fn with a client under timeout, and turns a
// failure into a message and exit code.
func (c *cli) call(timeout time.Duration, fn func(ctx context.Context, client agent) error) error {
	c.socket = safesocket.Path(c.io.Getenv)
	dialed := &dialTracker{socket: c.socket}
	err := c.callOnce(timeout, fn, dialed)
	// No daemon reached: start one if none answers yet (autostart.go) and
	// try once more. Nothing reached a daemon, so repeating fn repeats nothing.
	if err != nil && !dialed.connected.Load() && c.mayAutostart(err) {
		if serr := c.autostart(); serr != nil {
			return serr
		}
		err = c.callOnce(timeout, fn, &dialTracker{socket: c.socket})
	}
	if err != nil {
		return c.rpcError(err)
	}
	return nil
}

// callOnce is one connection and one fn; its error is fn's, unmapped.
func (c *cli) callOnce(timeout time.Duration, fn func(ctx context.Context, client agent) error, dialed *dialTracker) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The socket's 0700 directory and the daemon's peer check are the
	// security boundary; transport encryption would add nothing locally.
	nc, err := dialed.dial(ctx)
	if err != nil {
		return &grpcwire.Status{Code: grpcwire.Unavailable, Message: fmt.Sprintf("connect to dbx-credd at %s: %v", c.socket, err)}
	}
	conn := grpcwire.NewConn(nc)
	defer conn.Close()
	return fn(ctx, agent{conn: conn})
}

// rpcError maps a gRPC status to the helper's exit codes. Unavailable means
// either no daemon or an unreachable workspace; a direct dial tells them apart
// (only on this error path, so the common path pays nothing).
func (c *cli) rpcError(err error) error {
	var st *grpcwire.Status
	if !errors.As(err, &st) {
		return err
	}
	switch st.Code {
	case grpcwire.Unavailable:
		if !c.daemonAnswers() {
			return &exitError{code: exitNoDaemon, msg: fmt.Sprintf(
				"dbx-credd is not running (nothing answers on %s): start it with \"dbx-credd run &\", "+
					"or set DBX_CRED_SOCKET if it serves elsewhere", c.socket)}
		}
		return &exitError{code: exitUnreachable, msg: st.Message}
	case grpcwire.NotFound:
		return &exitError{code: exitNoProfile, msg: st.Message}
	case grpcwire.InvalidArgument:
		return &exitError{code: exitUsage, msg: st.Message}
	case grpcwire.Unauthenticated:
		return &exitError{code: exitRejected, msg: st.Message}
	case grpcwire.FailedPrecondition:
		return &exitError{code: exitKeyring, msg: st.Message}
	case grpcwire.DeadlineExceeded:
		return &exitError{code: exitFailure, msg: "dbx-credd did not answer in time: " + st.Message}
	}
	return &exitError{code: exitFailure, msg: st.Message}
}

func (c *cli) daemonAnswers() bool {
	conn, err := net.DialTimeout("unix", c.socket, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
