package helper

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/dbx-cred/dbx-cred/helper/client"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const forwardHelp = `
Lends tokens for some profiles to another machine or a container, as
ssh-agent forwarding lends keys: dbx-credd makes a second socket, a
forwarding socket, that answers only token requests for the named profiles.
The secrets never leave this machine; the other side gets short-lived
tokens, and every token it gets shows in dbx-cred audit under the label.

  dbx-cred forward -p prod                       # prints the socket, then how to use it
  dbx-cred forward -p prod -p dev --label devbox --ttl 8h
  dbx-cred forward --list
  dbx-cred forward --revoke devbox

Through a forwarding socket a client may run token, auth token, env, exec,
git get, curl-config and netrc for the lent profiles, and list and status
(which show only those, and no paths of this machine). Everything else
(login, logout, rotate, import, lock, unlock, store, daemon stop, audit,
metadata-url, forward) is refused with exit status 7; git store and erase
do nothing.

For an SSH host, "dbx-cred ssh" does it all: it makes a forward, runs ssh
with -R for it, points dbx-cred on the host at it, and revokes it when the
session ends. By hand: ssh -o ExitOnForwardFailure=yes -R REMOTE:LOCAL, with
REMOTE in a directory only you can enter on the host, and there
export DBX_CRED_SOCKET=REMOTE. The host needs only the dbx-cred binary.

For a container: mount the socket (docker run -v SOCKET:/run/dbx-cred-fwd.sock
-e DBX_CRED_SOCKET=/run/dbx-cred-fwd.sock). A container whose processes run
as your uid (rootless Docker, Podman, most devcontainers) needs nothing
more. One whose user is another uid (rootful Docker with root inside is uid
0) needs --allow-uid UID: the socket is then made in a directory of its own
that only that uid may enter, and the container sets
DBX_CRED_SOCKET_UID=<your uid> so that its dbx-cred trusts your daemon.

The forward lives until --ttl (default 12h, at most 168h), --revoke, or
dbx-credd stopping; revoking cuts the connections open through it.` + "\n" + forwardExits

const forwardExits = `
Exit status:
  0   done
  2   dbx-credd is not running (a forward needs the running daemon)
  3   no such profile, or no such forward
  7   refused: run through a forwarding socket, which lends tokens only
  64  usage error`

type forwardJSON struct {
	Label       string    `json:"label"`
	Socket      string    `json:"socket"`
	Profiles    []string  `json:"profiles"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Calls       int64     `json:"calls"`
	Connections int32     `json:"connections"`
	AllowUID    *int64    `json:"allow_uid,omitempty"`
}

func forwardOf(f *pb.Forward) forwardJSON {
	j := forwardJSON{Label: f.GetLabel(), Socket: f.GetSocket(), Profiles: f.GetProfiles(), Created: f.GetCreated().AsTime(),
		Expires: f.GetExpires().AsTime(), Calls: f.GetCalls(), Connections: f.GetConnections()}
	if u := f.GetAllowUid(); u >= 0 {
		j.AllowUID = &u
	}
	return j
}

type forwardOpts struct {
	profiles []string
	label    string
	ttl      time.Duration
	allowUID int
}

// forwardFlags are the flags forward and ssh share.
func forwardFlags(fs *pflag.FlagSet, o *forwardOpts) {
	fs.StringArrayVarP(&o.profiles, "profile", "p", nil, "lend profile `NAME` (repeatable)")
	fs.StringVar(&o.label, "label", "", "the forward's `LABEL` in audit and --list (made unique)")
	fs.DurationVar(&o.ttl, "ttl", 12*time.Hour, "how long the forward lives (`DURATION`, at most 168h)")
}

func runForward(c *cli, args []string) error {
	fs := c.flags("forward", "-p NAME [-p NAME ...] [--label LABEL] [--ttl DURATION] [--allow-uid UID] | --list | --revoke LABEL", forwardHelp)
	var o forwardOpts
	forwardFlags(fs, &o)
	fs.IntVar(&o.allowUID, "allow-uid", -1, "also serve `UID` (a container's user that is not you); Linux only")
	list := fs.Bool("list", false, "show the live forwards")
	revoke := fs.String("revoke", "", "end the forward `LABEL` (or socket path) and cut its connections")
	out := c.outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	d := c.daemon(false)
	switch {
	case *list && (*revoke != "" || len(o.profiles) > 0), *revoke != "" && len(o.profiles) > 0:
		return usageErr("forward: give one of -p NAME (make one), --list, or --revoke LABEL")
	case *list:
		resp, err := d.ListForwards(ctx, &pb.ListForwardsRequest{})
		if err != nil {
			return err
		}
		return printForwards(c.io.Stdout, resp.GetForwards(), out.JSON())
	case *revoke != "":
		resp, err := d.RevokeForward(ctx, &pb.RevokeForwardRequest{Label: *revoke})
		if err != nil {
			return err
		}
		f := resp.GetForward()
		fmt.Fprintf(c.io.Stdout, "Revoked forward %s (%s): its socket is gone and its %d open connection(s) were cut.\n",
			printable(f.GetLabel()), printable(strings.Join(f.GetProfiles(), ", ")), f.GetConnections())
		return nil
	case len(o.profiles) == 0:
		return usageErr("forward: name the profiles to lend with -p NAME (repeatable), e.g. dbx-cred forward -p prod; or --list, --revoke LABEL")
	}
	f, err := c.createForward(ctx, o)
	if err != nil {
		return err
	}
	if out.JSON() {
		return writeJSON(c.io.Stdout, forwardOf(f))
	}
	sock := f.GetSocket()
	fmt.Fprintln(c.io.Stdout, sock)
	w := c.io.Stdout
	fmt.Fprintf(w, "ssh -o ExitOnForwardFailure=yes -R REMOTE_DIR/dbx-cred-fwd/%s:%s HOST\n", printable(baseName(sock)), printable(sock))
	fmt.Fprintf(w, "# Forward %s lends %s until %s.\n", printable(f.GetLabel()), printable(strings.Join(f.GetProfiles(), ", ")),
		f.GetExpires().AsTime().Local().Format(time.RFC3339))
	fmt.Fprintf(w, "# REMOTE_DIR: a directory on HOST only you can enter (mkdir -p -m 700 REMOTE_DIR/dbx-cred-fwd);\n")
	fmt.Fprintf(w, "# there: export DBX_CRED_SOCKET=REMOTE_DIR/dbx-cred-fwd/%s. Or let dbx-cred do it: dbx-cred ssh -p %s -- HOST\n",
		printable(baseName(sock)), printable(f.GetProfiles()[0]))
	if f.GetAllowUid() >= 0 {
		fmt.Fprintf(w, "# A container: docker run -v %s:/run/dbx-cred-fwd.sock -e DBX_CRED_SOCKET=/run/dbx-cred-fwd.sock -e DBX_CRED_SOCKET_UID=%d ...\n",
			printable(sock), os.Getuid())
	}
	fmt.Fprintf(w, "# End it: dbx-cred forward --revoke %s\n", printable(f.GetLabel()))
	return nil
}

func (c *cli) createForward(ctx context.Context, o forwardOpts) (*pb.Forward, error) {
	req := &pb.CreateForwardRequest{Profiles: o.profiles, Label: o.label, Ttl: pb.NewDuration(o.ttl)}
	if o.allowUID >= 0 {
		req.AllowUid, req.HasAllowUid = int64(o.allowUID), true
	}
	resp, err := c.daemon(false).CreateForward(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.GetForward(), nil
}

func printForwards(w io.Writer, fwds []*pb.Forward, asJSON bool) error {
	list := make([]forwardJSON, len(fwds))
	for i, f := range fwds {
		list[i] = forwardOf(f)
	}
	if asJSON {
		return writeJSON(w, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "No forwards. Make one with dbx-cred forward -p NAME, or dbx-cred ssh -p NAME -- HOST.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tPROFILES\tAGE\tEXPIRES\tCALLS\tCONNS\tALLOW-UID\tSOCKET")
	for _, f := range list {
		uid := "-"
		if f.AllowUID != nil {
			uid = fmt.Sprint(*f.AllowUID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", printable(f.Label), printable(strings.Join(f.Profiles, ",")),
			time.Since(f.Created).Round(time.Second), f.Expires.Local().Format(time.RFC3339), f.Calls, f.Connections, uid, printable(f.Socket))
	}
	return tw.Flush()
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// unlentCommand reports a command a forwarding socket refuses (the daemon
// refuses their calls; see daemon/adapter/grpcapi's lentMethods), with
// the first argument that makes them so ("" for any).
func unlentCommand(name string, args []string) bool {
	first := ""
	if len(args) > 0 {
		first = args[0]
	}
	switch name {
	case "login", "logout", "rotate", "import", "unlock", "lock", "store", "audit", "metadata-url", "forward", "ssh", "proxy":
		return true
	case "daemon":
		return first == "stop" || first == "restart"
	case "auth":
		return first == "login" || first == "logout"
	}
	return false
}

// refuseUnlent refuses, before any prompt, a command that a forwarding
// socket would refuse anyway: the daemon's refusal comes only at its call,
// after unlock or store migrate have asked for a passphrase, and status
// preflights would misread the forward's narrow status. Only a socket
// named as a forward costs the extra status call.
func (c *cli) refuseUnlent(name string, args []string) error {
	if !unlentCommand(name, args) || !client.Forwarded(c.socketPath()) || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		return nil
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	st, err := c.daemon(false).Status(ctx, &pb.StatusRequest{})
	if err != nil || st.GetForwardedLabel() == "" {
		return nil // the command meets whatever it meets
	}
	what := name
	if len(args) > 0 && (name == "daemon" || name == "auth" || name == "store") {
		what += " " + args[0]
	}
	return &exitError{code: exitNotLent, msg: fmt.Sprintf("%s is not lent through forward %s: this socket lends tokens only; "+
		"run it on the machine where dbx-credd runs", what, printable(st.GetForwardedLabel()))}
}
