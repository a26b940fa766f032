package helper

import (
	"errors"
	"fmt"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/client"
	"github.com/dbx-cred/dbx-cred/helper/termsafe"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const daemonHelp = `
Stops, restarts or describes the dbx-credd that serves the socket, however
it was started (a service, dbx-cred's autostart, or by hand): it asks the
daemon over the socket, which checks the caller is its own user as for
every call, then waits until the socket is free.

  dbx-cred daemon stop             stop it; exit 0 when none runs
  dbx-cred daemon restart          stop it and start "dbx-credd run" again
                                   (with DBX_CRED_STORE and friends from
                                   this shell: DBX_CRED_STORE=file dbx-cred
                                   daemon restart chooses the store while
                                   there are no profiles; profiles move
                                   with dbx-cred store migrate --to NAME,
                                   and a restart that would strand them is
                                   refused)
  dbx-cred daemon status [-o json] pid, version, socket and the store:
                                   which, reachable, locked

A service restarts its daemon itself only after a failure (systemd) or
always (launchd): after "stop" under launchd, use dbx-credd stop instead.`

// socketFreeWait bounds the wait for a stopping daemon: it lets calls in
// flight finish for at most 5 s, then its renewals stop.
const socketFreeWait = 15 * time.Second

func runDaemon(c *cli, args []string) error {
	if len(args) == 0 {
		return usageErr("daemon needs stop, restart or status (see dbx-cred daemon --help)")
	}
	verb := args[0]
	switch verb {
	case "-h", "--help", "help":
		fs := c.flags("daemon", "stop|restart|status [-o json]", daemonHelp)
		return parse(fs, []string{"--help"})
	case "stop", "restart":
		fs := c.flags("daemon "+verb, "", daemonHelp)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if verb == "restart" {
			if err := c.successorCanStart(); err != nil {
				return err
			}
		}
		if err := c.stopDaemon(); err != nil {
			return err
		}
		if verb == "stop" {
			return nil
		}
		if v := c.io.Getenv(envNoAutostart); v != "" && v != "0" {
			fmt.Fprintf(c.io.Stdout, "%s is set: start dbx-credd yourself (dbx-credd run &, or dbx-credd start).\n", envNoAutostart)
			return nil
		}
		if err := c.autostart(c.socketPath()); err != nil {
			return err
		}
		st, err := c.daemonStatus()
		if err != nil {
			return err
		}
		fmt.Fprintf(c.io.Stdout, "dbx-credd restarted: pid %d, store %s\n", st.GetPid(), printable(storeLine(st.GetStore())))
		return nil
	case "status":
		fs := c.flags("daemon status", "[-o json]", daemonHelp)
		out := c.outputFlag(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		r, err := c.daemonStatus()
		if err != nil {
			return err
		}
		return printDaemonStatus(c, r, out.JSON())
	}
	return usageErr("daemon %q: use stop, restart or status", verb)
}

// successorCanStart refuses a restart whose new daemon would refuse to
// start: DBX_CRED_STORE names another store than the one the running
// daemon keeps profiles in (they would not be found there). A working
// daemon is never stopped for that; a migration is the way.
func (c *cli) successorCanStart() error {
	want := c.io.Getenv("DBX_CRED_STORE")
	if want == "" || want == "auto" {
		return nil
	}
	r, err := c.daemonStatus()
	if err != nil || r.GetStore() == nil {
		return nil // none runs, or one too old to say: nothing to protect
	}
	have := r.GetStore().GetName()
	if have == "" || have == want || r.GetProfileCount() == 0 {
		return nil
	}
	return &exitError{code: exitUsage, msg: fmt.Sprintf("not restarting: dbx-credd keeps %d profile(s) in the %s store, and a daemon started with DBX_CRED_STORE=%s "+
		"would refuse to start, as it would not find them. Move them instead (the daemon keeps running): dbx-cred store migrate --to %s",
		r.GetProfileCount(), have, want, want)}
}

// stopDaemon asks the daemon to stop and waits until the socket is free.
func (c *cli) stopDaemon() error {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(false).Shutdown(ctx, &pb.ShutdownRequest{})
	var ce *client.Error
	if errkind.Of(err) == errkind.NoDaemon && !(errors.As(err, &ce) && ce.Stuck) {
		fmt.Fprintf(c.io.Stdout, "dbx-credd is not running on %s: nothing to stop.\n", printable(c.socketPath()))
		return nil
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(socketFreeWait)
	for client.Answers(c.socketPath()) {
		if time.Now().After(deadline) {
			return &exitError{code: exitFailure, msg: fmt.Sprintf("dbx-credd (pid %d) was asked to stop but still holds %s after %s: see its log; kill %d ends it",
				resp.GetPid(), c.socketPath(), socketFreeWait, resp.GetPid())}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(c.io.Stdout, "dbx-credd (pid %d) stopped; %s is free.\n", resp.GetPid(), printable(c.socketPath()))
	return nil
}

func (c *cli) daemonStatus() (*pb.StatusResponse, error) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	r, err := c.daemon(false).Status(ctx, &pb.StatusRequest{})
	return r, err
}

func storeLine(st *pb.StoreStatus) string {
	if st == nil {
		return "unknown (an older dbx-credd)"
	}
	name := st.GetName()
	if name == "" {
		name = "none chosen"
	}
	state := "reachable"
	switch {
	case st.GetLocked():
		state = "locked: run dbx-cred unlock"
	case !st.GetReachable():
		state = "unreachable"
	}
	return fmt.Sprintf("%s, %s (%s)", name, state, st.GetBackend())
}

type storeStatusJSON struct {
	Name      string `json:"name"`
	Backend   string `json:"backend"`
	Reachable bool   `json:"reachable"`
	Locked    bool   `json:"locked"`
	Exists    bool   `json:"exists"`
	Note      string `json:"note,omitempty"`
}

type daemonStatusJSON struct {
	Version  string          `json:"version"`
	PID      int64           `json:"pid"`
	Started  time.Time       `json:"started"`
	Socket   string          `json:"socket"`
	Profiles int32           `json:"profile_count"`
	Store    storeStatusJSON `json:"store"`
}

func printDaemonStatus(c *cli, r *pb.StatusResponse, asJSON bool) error {
	st := r.GetStore()
	j := daemonStatusJSON{Version: r.GetVersion(), PID: r.GetPid(), Started: r.GetStarted().AsTime(), Socket: r.GetSocket(), Profiles: r.GetProfileCount(),
		Store: storeStatusJSON{Name: st.GetName(), Backend: st.GetBackend(), Reachable: st.GetReachable(), Locked: st.GetLocked(), Exists: st.GetExists(), Note: st.GetNote()}}
	if asJSON {
		return writeJSON(c.io.Stdout, j)
	}
	fmt.Fprintf(c.io.Stdout, "dbx-credd %s, pid %d, up since %s\nsocket:    %s\nprofiles:  %d\nstore:     %s\n",
		printable(j.Version), j.PID, j.Started.Local().Format(time.RFC3339), printable(j.Socket), j.Profiles, printable(storeLine(st)))
	if n := st.GetNote(); n != "" {
		fmt.Fprintf(c.io.Stdout, "           %s\n", termsafe.Text(n))
	}
	return nil
}
