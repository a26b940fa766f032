package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const sshHelp = `
Runs ssh with tokens for some profiles forwarded to the host: it makes a
forward (see dbx-cred forward), forwards its socket with ssh -R into a
private directory on the host, points dbx-cred there at it, and revokes the
forward when ssh exits. The secrets stay on this machine.

  dbx-cred ssh -p prod -- devbox
  dbx-cred ssh -p prod -p dev --label devbox -- -p 2222 me@devbox.example.com
  dbx-cred ssh -p prod -- devbox databricks-cli-command   # a command, not a shell

On the host, dbx-cred token -p prod, env, exec, git and auth token work as
here, for the lent profiles only; nothing else does (exit status 7), and a
daemon is never started there. The host needs the dbx-cred binary on its
PATH and a POSIX or fish login shell.

How it finds the socket: before the session, one short ssh call makes
$XDG_RUNTIME_DIR/dbx-cred-fwd (else ~/.dbx-cred/dbx-cred-fwd) on the host,
mode 0700, and removes sockets there older than a week. The session's
command then exports DBX_CRED_SOCKET before starting your login shell (or
your command). A shell started outside this session, e.g. a tmux server
from earlier, does not have it: export DBX_CRED_SOCKET there by hand (echo
$DBX_CRED_SOCKET in the session shows it).

Everything after -- is ssh's own arguments, passed as they are; ssh options
(-p, -i, -J, -o ...) go before the host. -p before -- is dbx-cred's
profile, after it ssh's port.

Exit status:
  ssh's own, once it runs
  2, 3, 7, 64  as for dbx-cred forward, before ssh runs`

// sshOptsWithArg are the ssh options that take a value (OpenSSH 9's
// getopt string), to find the host among ssh's arguments as ssh does.
const sshOptsWithArg = "BDEFIJLOPQRSWbceilmopw"

// splitSSHArgs splits ssh's arguments into its options, the destination and
// the remote command (empty for a login shell).
func splitSSHArgs(args []string) (opts []string, dest string, command []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 >= len(args) {
				break
			}
			return opts, args[i+1], args[i+2:], nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return opts, a, args[i+1:], nil
		}
		opts = append(opts, a)
		for j := 1; j < len(a); j++ {
			if strings.IndexByte(sshOptsWithArg, a[j]) < 0 {
				continue
			}
			if j == len(a)-1 { // the value is the next argument
				if i+1 >= len(args) {
					return nil, "", nil, usageErr("ssh: ssh option %s needs a value", a)
				}
				i++
				opts = append(opts, args[i])
			}
			break
		}
	}
	return nil, "", nil, usageErr("ssh: no host given: dbx-cred ssh -p NAME -- HOST [COMMAND]")
}

// sshLabel is the forward's default label: "ssh:" and the destination,
// with what a label may not hold replaced.
func sshLabel(dest string) string {
	b := []byte("ssh:" + dest)
	for i, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.IndexByte("@:._-+", r) >= 0) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// remoteDirScript makes the private directory on the host and prints it.
// It runs under "sh -c" whatever the login shell is; the single quotes
// around it mean the same in sh, bash, zsh and fish.
const remoteDirScript = `sh -c 'umask 077; d="${XDG_RUNTIME_DIR:-$HOME/.dbx-cred}/dbx-cred-fwd"; ` +
	`mkdir -p "$d" && chmod 700 "$d" && find "$d" -type s -name \*.sock -mtime +7 -exec rm -f {} + ; printf "%s\n" "$d"'`

// sshPreflightTimeout bounds the call that makes the directory, which may
// wait for a password.
const sshPreflightTimeout = 2 * time.Minute

func runSSH(c *cli, args []string) error {
	fs := c.flags("ssh", "[-p NAME ...] [--label LABEL] [--ttl DURATION] -- [SSH_OPTIONS] HOST [COMMAND...]", sshHelp)
	var o forwardOpts
	forwardFlags(fs, &o)
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	sshOpts, dest, command, err := splitSSHArgs(fs.Args())
	if err != nil {
		return err
	}
	if len(o.profiles) == 0 {
		def := c.io.Getenv("DATABRICKS_CONFIG_PROFILE")
		if def == "" {
			def = "DEFAULT"
		}
		o.profiles = []string{def}
	}
	if o.label == "" {
		o.label = sshLabel(dest)
	}
	o.allowUID = -1
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		return &exitError{code: 127, msg: "ssh: the ssh program is not on PATH: install OpenSSH's client"}
	}

	dir, err := c.sshRemoteDir(sshBin, sshOpts, dest)
	if err != nil {
		return err
	}
	ctx, cancel := within(30 * time.Second)
	f, err := c.createForward(ctx, o)
	cancel()
	if err != nil {
		return err
	}
	defer c.revokeQuietly(f.GetLabel())

	remote := dir + "/" + baseName(f.GetSocket())
	export := "export DBX_CRED_SOCKET='" + remote + "'; "
	argv := append([]string{"-o", "ExitOnForwardFailure=yes", "-R", remote + ":" + f.GetSocket()}, sshOpts...)
	if len(command) == 0 {
		if c.stdinIsTerminal() {
			argv = append(argv, "-t")
		}
		argv = append(argv, dest, export+`exec "$SHELL" -l`)
	} else {
		argv = append(argv, dest, export+strings.Join(command, " "))
	}
	fmt.Fprintf(c.io.Stderr, "dbx-cred: forward %s lends %s to %s until the session ends.\n",
		printable(f.GetLabel()), printable(strings.Join(f.GetProfiles(), ", ")), printable(dest))
	return runSSHSession(sshBin, argv)
}

// sshRemoteDir makes the host's private forwarding directory, and returns
// its absolute path.
func (c *cli) sshRemoteDir(sshBin string, sshOpts []string, dest string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sshPreflightTimeout)
	defer cancel()
	argv := append(append([]string{}, sshOpts...), "-T", "-o", "ClearAllForwardings=yes", dest, remoteDirScript)
	cmd := exec.CommandContext(ctx, sshBin, argv...)
	cmd.Stdin, cmd.Stderr = os.Stdin, c.io.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &exitError{code: exitFailure, msg: fmt.Sprintf("ssh: could not make the forwarding directory on %s (%v): "+
			"check that plain ssh to it works, with the same options", dest, err)}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "'\n:") {
		return "", &exitError{code: exitFailure, msg: fmt.Sprintf("ssh: %s answered %q for its forwarding directory, not an absolute path "+
			"without quotes or colons; is its login shell printing text of its own?", dest, dir)}
	}
	return dir, nil
}

// revokeQuietly ends the session's forward; a daemon already gone took
// the forward with it.
func (c *cli) revokeQuietly(label string) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	if _, err := c.daemon(false).RevokeForward(ctx, &pb.RevokeForwardRequest{Label: label}); err != nil {
		fmt.Fprintf(c.io.Stderr, "dbx-cred: could not revoke forward %s: %v (it expires by itself; dbx-cred forward --revoke %s)\n",
			printable(label), err, printable(label))
	}
}

// runSSHSession runs ssh with the terminal and returns its exit status.
// dbx-cred stays (unlike exec) to revoke the forward afterwards: it
// ignores the terminal's interrupt, which is ssh's to handle, and passes
// on a hang-up or termination.
func runSSHSession(sshBin string, argv []string) error {
	cmd := exec.Command(sshBin, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return &exitError{code: 126, msg: "ssh: " + err.Error()}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != os.Interrupt {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 {
			code = 255
		}
		return &exitError{code: code}
	}
	return err
}
