package helper

import (
	"fmt"
	"io"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/version"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const statusHelp = `
Shows whether dbx-credd runs, where, and how: version, pid, socket, keyring
backend, registry file, number of profiles, whether the process is
hardened against core dumps and debugger attach, and where the metadata
service listens (or why it is down, or "off").

It also lists orphaned secrets: ones a login or rotate wrote to the store
when the store did not answer in time (so the outcome was unknown), or that
could not be deleted. No profile uses them; dbx-cred logout -p NAME removes
them.

-p NAME shows one profile, with why it is in its state (the details that
"dbx-cred list" leaves out).

When this dbx-cred and the daemon are of different versions (the daemon
started before an upgrade), status says so and how to restart the daemon.`

type statusJSON struct {
	// Version is the daemon's; HelperVersion this dbx-cred's. When they
	// differ VersionWarning says how to restart the daemon.
	Version       string `json:"version"`
	HelperVersion string `json:"helper_version"`
	// ForwardedFrom is the forward's label when the socket is a
	// forwarding socket (dbx-cred forward); paths are then empty.
	ForwardedFrom  string    `json:"forwarded_from,omitempty"`
	VersionWarning string    `json:"version_warning,omitempty"`
	PID            int64     `json:"pid"`
	Started        time.Time `json:"started"`
	Socket         string    `json:"socket"`
	KeyringBackend string    `json:"keyring_backend"`
	RegistryPath   string    `json:"registry_path"`
	ProfileCount   int32     `json:"profile_count"`
	Hardened       bool      `json:"hardened"`
	// MetadataListen is the metadata service's base URL; empty when it is
	// off or down, and then MetadataError says why it is down.
	MetadataListen string              `json:"metadata_listen"`
	MetadataError  string              `json:"metadata_error,omitempty"`
	Profiles       []profileStatusJSON `json:"profiles"`
	// Orphans are secrets in the store that no profile owns, left by a
	// write whose outcome was unknown; dbx-cred logout -p NAME removes them.
	Orphans []orphanJSON `json:"orphans,omitempty"`
}

type orphanJSON struct {
	Profile string     `json:"profile"`
	Reason  string     `json:"reason"`
	Since   *time.Time `json:"since,omitempty"`
}

// profileStatusJSON is one profile's token state; times are RFC 3339.
type profileStatusJSON struct {
	Name              string     `json:"name"`
	Kind              string     `json:"kind"`
	Federated         string     `json:"federated,omitempty"`
	AccountID         string     `json:"account_id,omitempty"`
	Mode              string     `json:"mode,omitempty"`
	UserName          string     `json:"user_name,omitempty"`
	State             string     `json:"state"`
	StateMessage      string     `json:"state_message,omitempty"`
	TokenLifetime     string     `json:"token_lifetime,omitempty"`
	CurrentExpiry     *time.Time `json:"current_expiry,omitempty"`
	NextRenewal       *time.Time `json:"next_renewal,omitempty"`
	LastError         string     `json:"last_error,omitempty"`
	LiveDerivedTokens int32      `json:"live_derived_tokens"`
	RootExpiry        *time.Time `json:"root_expiry,omitempty"`
	RootExpiryWarning string     `json:"root_expiry_warning,omitempty"`
	// AutoRotate: "on", "off" (--no-auto-rotate), or empty where the
	// profile has no token dbx-cred could rotate (OAuth).
	AutoRotate        string     `json:"auto_rotate,omitempty"`
	NextRootRotation  *time.Time `json:"next_root_rotation,omitempty"`
	RootRotationError string     `json:"root_rotation_error,omitempty"`
}

func optTime(ts interface {
	IsValid() bool
	AsTime() time.Time
}) *time.Time {
	if !ts.IsValid() {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func runStatus(c *cli, args []string) error {
	fs := c.flags("status", "[-p NAME] [-o json]", statusHelp)
	out := c.outputFlag(fs)
	profile := fs.StringP("profile", "p", "", "show only profile `NAME`, with the reason for its state")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Status reports on the daemon: finding none is the answer, not a
	// reason to start one.
	daemon := c.daemon(false)
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	r, err := daemon.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return err
	}
	var list *pb.ListProfilesResponse
	if *profile != "" {
		// The reason for a state is in the profile list, not in Status.
		if list, err = daemon.ListProfiles(ctx, &pb.ListProfilesRequest{}); err != nil {
			return err
		}
	}
	s, found := statusOf(r, list, *profile)
	if *profile != "" && !found {
		return &exitError{code: exitNoProfile, msg: fmt.Sprintf("status: no profile %q: see dbx-cred list", *profile)}
	}
	if out.JSON() {
		return writeJSON(c.io.Stdout, s)
	}
	printStatus(c.io.Stdout, s, *profile)
	return nil
}

// statusOf is the daemon's answer in the shape both outputs print, with
// only profile (all when empty); found says profile was among them.
func statusOf(r *pb.StatusResponse, list *pb.ListProfilesResponse, profile string) (s statusJSON, found bool) {
	s = statusJSON{Version: r.GetVersion(), HelperVersion: version.Version, PID: r.GetPid(), Started: r.GetStarted().AsTime(), Socket: r.GetSocket(),
		KeyringBackend: r.GetKeyringBackend(), RegistryPath: r.GetRegistryPath(), ProfileCount: r.GetProfileCount(), Hardened: r.GetHardened(),
		MetadataListen: r.GetMetadataListen(), MetadataError: r.GetMetadataError(), Profiles: []profileStatusJSON{},
		ForwardedFrom: r.GetForwardedLabel()}
	if s.ForwardedFrom == "" {
		s.VersionWarning = versionWarning(s.HelperVersion, s.Version, s.PID)
	}
	for _, p := range r.GetProfiles() {
		if profile != "" && p.GetName() != profile {
			continue
		}
		found = true
		ps := profileStatusOf(p)
		for _, lp := range list.GetProfiles() {
			if lp.GetName() == p.GetName() {
				ps.StateMessage = lp.GetStateMessage()
			}
		}
		s.Profiles = append(s.Profiles, ps)
	}
	for _, o := range r.GetOrphans() {
		s.Orphans = append(s.Orphans, orphanJSON{Profile: o.GetProfile(), Reason: o.GetReason(), Since: optTime(o.GetSince())})
	}
	return s, found
}

func profileStatusOf(p *pb.Profile) profileStatusJSON {
	ps := profileStatusJSON{
		Name: p.GetName(), Kind: profileKind(p), Federated: p.GetFederated(), AccountID: p.GetAccountId(), Mode: modeWord(p), UserName: p.GetUserName(),
		State: enumWord(p.GetState().String(), "PROFILE_STATE_"), LastError: p.GetLastError(),
		LiveDerivedTokens: p.GetLiveDerivedTokens(), RootExpiryWarning: p.GetRootExpiryWarning(),
		CurrentExpiry: optTime(p.GetCurrentExpiry()), NextRenewal: optTime(p.GetNextRenewal()), RootExpiry: optTime(p.GetRootExpiry()),
	}
	if p.GetTokenLifetime() != nil {
		ps.TokenLifetime = p.GetTokenLifetime().AsDuration().String()
	}
	if p.GetKind() == pb.CredentialKind_CREDENTIAL_KIND_PAT {
		ps.AutoRotate = "off"
		if p.GetAutoRotate() {
			ps.AutoRotate = "on"
		}
		ps.NextRootRotation, ps.RootRotationError = optTime(p.GetNextRootRotation()), p.GetRootRotationError()
	}
	return ps
}

// printStatus is status's text output; orphans of other profiles than
// profile (when set) are left out.
func printStatus(w io.Writer, s statusJSON, profile string) {
	if s.ForwardedFrom != "" {
		// Through a forwarding socket: the lending daemon is elsewhere,
		// and shows only what it lends.
		fmt.Fprintf(w, "forwarded from %s: dbx-credd %s, up since %s\nprofiles:  %d lent to this machine\n",
			printable(s.ForwardedFrom), printable(s.Version), s.Started.Local().Format(time.RFC3339), len(s.Profiles))
		for _, p := range s.Profiles {
			printProfileStatus(w, p)
		}
		return
	}
	fmt.Fprintf(w, "dbx-credd %s, pid %d, up since %s\n", printable(s.Version), s.PID, s.Started.Local().Format(time.RFC3339))
	if s.VersionWarning != "" {
		fmt.Fprintf(w, "WARNING: %s\n", printable(s.VersionWarning))
	}
	fmt.Fprintf(w, "socket:    %s\nkeyring:   %s\nregistry:  %s\nprofiles:  %d\nhardened:  %v\n",
		printable(s.Socket), printable(s.KeyringBackend), printable(s.RegistryPath), s.ProfileCount, s.Hardened)
	switch {
	case s.MetadataError != "":
		fmt.Fprintf(w, "metadata:  DOWN: %s\n", printable(s.MetadataError))
	case s.MetadataListen != "":
		fmt.Fprintf(w, "metadata:  %s\n", s.MetadataListen)
	default:
		fmt.Fprintf(w, "metadata:  off\n")
	}
	for _, p := range s.Profiles {
		printProfileStatus(w, p)
	}
	for _, o := range s.Orphans {
		if profile != "" && o.Profile != profile {
			continue
		}
		since := ""
		if o.Since != nil {
			since = " since " + o.Since.Local().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "\norphaned secret of profile %s%s: %s\n  remove it with: dbx-cred logout -p %s\n",
			printable(o.Profile), since, printable(o.Reason), printable(o.Profile))
	}
}

func printProfileStatus(w io.Writer, p profileStatusJSON) {
	fmt.Fprintf(w, "\nprofile %s (%s, %s) %s\n", printable(p.Name), kindLabel(p.Kind, p.Federated), printable(p.UserName), p.State)
	if p.AccountID != "" {
		fmt.Fprintf(w, "  account:         %s\n", printable(p.AccountID))
	}
	if p.TokenLifetime != "" {
		fmt.Fprintf(w, "  token lifetime:  %s\n  live tokens:     %d\n", p.TokenLifetime, p.LiveDerivedTokens)
	}
	for _, t := range []struct {
		label string
		at    *time.Time
	}{{"current expires: ", p.CurrentExpiry}, {"next renewal:    ", p.NextRenewal}, {"root expires:    ", p.RootExpiry}} {
		if t.at != nil {
			fmt.Fprintf(w, "  %s%s\n", t.label, t.at.Local().Format(time.RFC3339))
		}
	}
	switch {
	case p.NextRootRotation != nil:
		fmt.Fprintf(w, "  root renewal:    automatic, at %s\n", p.NextRootRotation.Local().Format(time.RFC3339))
	case p.AutoRotate == "off":
		fmt.Fprintf(w, "  root renewal:    off (--no-auto-rotate): dbx-cred rotate -p %s\n", printable(quoteArg(p.Name)))
	case p.AutoRotate == "on" && p.RootExpiry == nil:
		fmt.Fprintf(w, "  root renewal:    none for a pasted token: dbx-cred rotate -p %s lets dbx-cred renew it\n", printable(quoteArg(p.Name)))
	}
	if p.RootRotationError != "" {
		fmt.Fprintf(w, "  root renewal error: %s\n", printable(p.RootRotationError))
	}
	if p.RootExpiryWarning != "" {
		fmt.Fprintf(w, "  WARNING: %s\n", printable(p.RootExpiryWarning))
	}
	if p.StateMessage != "" {
		fmt.Fprintf(w, "  state:           %s\n", printable(p.StateMessage))
	}
	if p.LastError != "" {
		fmt.Fprintf(w, "  last error:      %s\n", printable(p.LastError))
	}
}

// versionWarning is what to do when the daemon is not of this dbx-cred's
// version, as after an upgrade that left the old daemon running: restart
// it through the service when there is one, so the service manager keeps
// track of it, else by its pid; dbx-cred then starts the new binary on its
// next call.
func versionWarning(helper, daemon string, pid int64) string {
	if helper == daemon {
		return ""
	}
	return fmt.Sprintf("dbx-credd (pid %d) is version %s but this dbx-cred is %s (the daemon started before an upgrade?): "+
		"restart it with \"dbx-cred daemon restart\", or \"dbx-credd stop && dbx-credd start\" if it runs as a service (dbx-credd install)",
		pid, daemon, helper)
}
