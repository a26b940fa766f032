// Package client is the helper's one way to dbx-credd: a Client has a
// method per AgentService call, and owns what every call needs, so that
// commands only parse flags, call and print. It dials the socket after
// internal/safesocket's checks (the directory and the server are ours),
// starts a daemon when none answers and the caller allows it, frames the
// call with helper/grpcwire (its private transport), and returns failures
// already kinded (internal/errkind), from which the helper takes its exit
// code.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// ServicePrefix starts the full name of every AgentService method.
const ServicePrefix = "/dbxcred.v1.AgentService/"

// Client calls dbx-credd on Socket. The zero value is not usable: Socket
// is required. Each call is one connection, bounded by its context.
type Client struct {
	// Socket is the daemon's socket (safesocket.Path).
	Socket string
	// Start starts a daemon when no call reached one; nil never starts
	// one (commands that report on the daemon, or DBX_CRED_NO_AUTOSTART).
	// After it returns nil the call is tried once more.
	Start func() error
	// Waiting, when set, is called once when a call has waited
	// WaitingAfter for its answer, with the daemon's pid (0: unknown), so
	// that a slow answer is not silence. It runs on its own goroutine;
	// the call does not return before it has.
	Waiting func(pid int)
	// ServedBy, when set, is the uid the server must run as instead of
	// ours: a forwarding socket another uid lent to this one (dbx-cred
	// forward --allow-uid; DBX_CRED_SOCKET_UID), e.g. in a container.
	ServedBy *int
}

// Forwarded reports whether socket is, by its name, a forwarding socket:
// one that "dbx-cred forward" made (fwd-*.sock, dbx-cred-fwd-*/) or that
// "dbx-cred ssh" forwarded to a remote machine (…/dbx-cred-fwd/*.sock).
// Nothing is started for one, and one that is gone is named as such.
func Forwarded(socket string) bool {
	base, dir := filepath.Base(socket), filepath.Base(filepath.Dir(socket))
	return strings.HasPrefix(base, "fwd-") || strings.HasPrefix(base, "dbx-cred-fwd") || strings.HasPrefix(dir, "dbx-cred-fwd")
}

// forwardGone is the failure of a forwarding socket that nothing serves.
func forwardGone(socket string) error {
	return &Error{Kind: errkind.NoDaemon, Msg: fmt.Sprintf("the forwarded socket %s does not answer: the ssh session that forwarded it ended, "+
		"or the forward was revoked or expired on the machine running dbx-credd. Reconnect with dbx-cred ssh, "+
		"or there run dbx-cred forward -p NAME for a new one (dbx-cred forward --list shows the live ones)", socket)}
}

// WaitingAfter is how long a call waits before Waiting is told.
const WaitingAfter = 2 * time.Second

// Error is a failed call: its kind, and the message for the person at the
// terminal. Status is the daemon's answer, when there was one.
type Error struct {
	Kind   errkind.Kind
	Msg    string
	Status *grpcwire.Status
	// Stuck: a daemon accepted the call but did not answer in time (Kind
	// NoDaemon, as it cannot be reached); PID is its pid, 0 when unknown.
	Stuck bool
	PID   int
}

func (e *Error) Error() string { return e.Msg }

// ErrKind is the failure's kind.
func (e *Error) ErrKind() errkind.Kind { return e.Kind }

// Unwrap gives the daemon's status, where there was one.
func (e *Error) Unwrap() error {
	if e.Status == nil {
		return nil
	}
	return e.Status
}

// FromDaemon reports whether the daemon sent the kind itself (a dbx-credd
// older than kinds sends only a code, which the kind was read from).
func (e *Error) FromDaemon() bool { return e.Status != nil && e.Status.KindSent }

// call makes one call, starting a daemon first when none answers and Start
// allows it. Nothing reached a daemon before a start, so repeating the call
// repeats nothing.
func call[Resp any, P interface {
	*Resp
	grpcwire.Response
}](ctx context.Context, c *Client, method string, req grpcwire.Request) (P, error) {
	out := P(new(Resp))
	connected, err := c.once(ctx, method, req, out)
	if err != nil && !connected && c.Start != nil && errkind.Of(err) == errkind.NoDaemon {
		if serr := c.Start(); serr != nil {
			return nil, serr
		}
		_, err = c.once(ctx, method, req, out)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// once is one connection and one call; connected says a daemon was reached.
func (c *Client) once(ctx context.Context, method string, req grpcwire.Request, resp grpcwire.Response) (connected bool, err error) {
	budget := time.Duration(0)
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d).Round(time.Second)
	}
	// The socket's 0700 directory and the peer checks on both sides are
	// the security boundary; transport encryption would add nothing
	// locally. The dial checks, before anything is sent, that the server
	// is ours: a login sends a PAT, git erase a password.
	var nc net.Conn
	if c.ServedBy != nil {
		nc, err = safesocket.DialServedBy(ctx, c.Socket, *c.ServedBy)
	} else {
		nc, err = safesocket.Dial(ctx, c.Socket)
	}
	if err != nil {
		if terr := Untrusted(err); terr != nil {
			return false, terr
		}
		if Forwarded(c.Socket) {
			return false, forwardGone(c.Socket)
		}
		return false, &Error{Kind: errkind.NoDaemon, Msg: fmt.Sprintf("dbx-credd is not running (nothing answers on %s): "+
			"start it with \"dbx-credd run &\", or set DBX_CRED_SOCKET if it serves elsewhere", c.Socket)}
	}
	conn := grpcwire.NewConn(nc)
	defer conn.Close()
	if c.Waiting != nil {
		told := make(chan struct{})
		t := time.AfterFunc(WaitingAfter, func() { defer close(told); c.Waiting(safesocket.PeerPID(nc)) })
		defer func() {
			if !t.Stop() {
				<-told
			}
		}()
	}
	err = conn.Invoke(ctx, ServicePrefix+method, req, resp)
	if err == nil {
		return true, nil
	}
	var st *grpcwire.Status
	if Forwarded(c.Socket) && (!errors.As(err, &st) || (!st.KindSent && st.Code == grpcwire.Unavailable)) {
		// ssh accepted on the remote end but found nothing behind it on
		// the lending machine: the connection closes unanswered.
		return true, forwardGone(c.Socket)
	}
	return true, c.kinded(ctx, err, budget, func() int { return safesocket.PeerPID(nc) })
}

// kinded turns a call's failure into an *Error with its message; budget
// is the time the call had, pid finds the daemon's pid.
func (c *Client) kinded(ctx context.Context, err error, budget time.Duration, pid func() int) error {
	var st *grpcwire.Status
	if !errors.As(err, &st) {
		return err
	}
	// Our own deadline, not a status the daemon sent: something accepted
	// the connection and then said nothing in time. The socket's read
	// deadline can fire a moment before ctx's timer, hence the clock.
	// It cannot be reached, as far as the caller goes (exit 2, as for no
	// daemon); the pid says which process to end.
	if d, ok := ctx.Deadline(); ok && st.Code == grpcwire.DeadlineExceeded && !st.KindSent && !time.Now().Before(d) {
		return stuck(c.Socket, pid(), budget, st)
	}
	msg := st.Message
	if st.Kind == errkind.Timeout {
		msg = "dbx-credd did not answer in time: " + msg
	}
	return &Error{Kind: st.Kind, Msg: msg, Status: st}
}

// Untrusted turns a refusal by safesocket.Dial or CheckDir into the
// helper's error, nil for any other error: a socket directory or a server
// that another user controls is never talked to, and never a reason to
// start a daemon there.
func Untrusted(err error) error {
	var (
		de *safesocket.DirError
		pe *safesocket.PeerError
	)
	if errors.As(err, &de) || errors.As(err, &pe) {
		return &Error{Kind: errkind.Untrusted, Msg: "refusing to talk to dbx-credd, nothing was sent: " + err.Error()}
	}
	return nil
}

// Answers reports whether something accepts connections on socket: how
// autostart and daemon restart wait for a daemon to come or go (never how
// a failed call is classified: that is its kind).
func Answers(socket string) bool {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// stuck is the error of a daemon that accepted the call and then said
// nothing within budget: stopped (SIGSTOP), or waiting on something that
// does not answer. A restart over the socket would wait on it too, so the
// fix is to end the process.
func stuck(socket string, pid int, budget time.Duration, st *grpcwire.Status) error {
	who, end := "dbx-credd", "end it (see which process holds "+socket+": fuser "+socket+")"
	if pid > 0 {
		who = fmt.Sprintf("dbx-credd (pid %d)", pid)
		end = fmt.Sprintf("end it: kill %d (kill -9 %d if it stays)", pid, pid)
	}
	return &Error{Kind: errkind.NoDaemon, Status: st, Stuck: true, PID: pid, Msg: fmt.Sprintf("%s on %s accepted the call but did not answer within %s: "+
		"it is stuck (stopped, or waiting on the keyring); see its log, %s, then run the command again "+
		"(dbx-cred starts a new daemon)", who, socket, budget, end)}
}
