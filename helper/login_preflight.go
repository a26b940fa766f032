package helper

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// loginTarget is what login learns from the daemon before it reads a
// secret: the host to log in to, and the profile it would replace (nil
// for a new one).
type loginTarget struct {
	host     string
	replaces *pb.Profile
}

// loginPreflight asks the daemon, before any secret is read, what a login
// needs to know: that the store can take a secret (a login that would
// fail there fails before the prompt, not after the paste), the host of a
// profile logged in already (so --host may be left out), and whether this
// replaces one. A host copied from a browser is cut to the workspace URL,
// and the helper says so.
func (c *cli) loginPreflight(profile, host string, needsStore bool) (loginTarget, error) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	st, err := c.daemon(true).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return loginTarget{}, err
	}
	if needsStore {
		if err := storeCanTakeSecret(st.GetStore()); err != nil {
			return loginTarget{}, err
		}
	}
	var existing *pb.Profile
	for _, p := range st.GetProfiles() {
		if p.GetName() == profile {
			existing = p
		}
	}
	switch fixed, repaired := hosturl.Repair(host); {
	case host == "" && existing == nil:
		return loginTarget{}, usageErr("login needs --host, the workspace URL, e.g. --host %s (profile %s is not logged in yet, so there is no host to reuse)", hosturl.Example, quoteArg(profile))
	case host == "":
		host = existing.GetHost()
		fmt.Fprintf(c.io.Stderr, "%s\n", c.prefix(fmt.Sprintf("logging profile %s in again at %s", quoteArg(profile), printable(host))))
	case repaired:
		fmt.Fprintf(c.io.Stderr, "%s\n", c.prefix(fmt.Sprintf("using %s, the workspace URL in %q", printable(fixed), printable(host))))
		host = fixed
	}
	return loginTarget{host: host, replaces: existing}, nil
}

// storeCanTakeSecret refuses a login the store could not keep: none is
// usable yet, or the file store is locked. A store whose last probe failed
// is left to the login itself, as it may answer again by now.
func storeCanTakeSecret(st *pb.StoreStatus) error {
	switch {
	case st == nil:
		return nil // a daemon too old to say
	case st.GetName() == "":
		return &exitError{code: exitKeyring, msg: "dbx-credd has no usable store, so a login would have nowhere to keep its secret " +
			"(nothing was asked for). " + strings.TrimSpace(st.GetNote())}
	case st.GetLocked():
		return &exitError{code: exitKeyring, msg: fmt.Sprintf("the file store %s is locked: run dbx-cred unlock, then log in "+
			"(nothing was asked for, as the login could not keep its secret)", storePath(st))}
	}
	return nil
}

// describeProfile says whose a profile is, for a question about it.
func describeProfile(p *pb.Profile) string {
	if u := p.GetUserName(); u != "" {
		return printable(u) + " at " + printable(p.GetHost())
	}
	return printable(p.GetHost())
}

// confirm asks question at the terminal and goes on only on yes. yes
// (--yes) skips the question, and so does a stdin that is not a terminal:
// scripts and pipes are never stopped by a question.
func (c *cli) confirm(yes bool, question string) error {
	if yes || !c.stdinIsTerminal() {
		return nil
	}
	fmt.Fprintf(c.io.Stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(c.io.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: exitFailure, msg: "nothing changed (answer y to go on, or pass --yes)"}
}
