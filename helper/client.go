package helper

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// call dials the daemon, runs fn with a client under timeout, and turns a
// failure into a message and exit code.
func (c *cli) call(timeout time.Duration, fn func(ctx context.Context, client pb.AgentServiceClient) error) error {
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
func (c *cli) callOnce(timeout time.Duration, fn func(ctx context.Context, client pb.AgentServiceClient) error, dialed *dialTracker) error {
	// The socket's 0700 directory and the daemon's peer check are the
	// security boundary; transport encryption would add nothing locally.
	// Fixed windows: with grpc-go's default the answer's DATA makes the
	// helper send a flow-control PING the daemon must read and ack.
	conn, err := grpc.NewClient(safesocket.Target(c.socket), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialed.dial), grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(1<<20))
	if err != nil {
		return fmt.Errorf("set up a connection to dbx-credd at %s: %w", c.socket, err)
	}
	// Closing a gRPC connection is a graceful HTTP/2 teardown that takes
	// milliseconds; the answer should not wait for it. The helper prints and
	// exits right after this call, which ends the connection anyway.
	defer func() { go conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return fn(ctx, pb.NewAgentServiceClient(conn))
}

// rpcError maps a gRPC status to the helper's exit codes. Unavailable means
// either no daemon or an unreachable workspace; a direct dial tells them apart
// (only on this error path, so the common path pays nothing).
func (c *cli) rpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		if !c.daemonAnswers() {
			return &exitError{code: exitNoDaemon, msg: fmt.Sprintf(
				"dbx-credd is not running (nothing answers on %s): start it with \"dbx-credd run &\", "+
					"or set DBX_CRED_SOCKET if it serves elsewhere", c.socket)}
		}
		return &exitError{code: exitUnreachable, msg: st.Message()}
	case codes.NotFound:
		return &exitError{code: exitNoProfile, msg: st.Message()}
	case codes.InvalidArgument:
		return &exitError{code: exitUsage, msg: st.Message()}
	case codes.Unauthenticated:
		return &exitError{code: exitRejected, msg: st.Message()}
	case codes.FailedPrecondition:
		return &exitError{code: exitKeyring, msg: st.Message()}
	case codes.DeadlineExceeded:
		return &exitError{code: exitFailure, msg: "dbx-credd did not answer in time: " + st.Message()}
	}
	return &exitError{code: exitFailure, msg: st.Message()}
}

func (c *cli) daemonAnswers() bool {
	conn, err := net.DialTimeout("unix", c.socket, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
