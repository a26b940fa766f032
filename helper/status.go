package helper

import (
	"context"
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const statusHelp = `
Shows whether dbx-credd runs, where, and how: version, pid, socket, keyring
backend, registry file, number of profiles, whether the process is
hardened against core dumps and debugger attach, and where the metadata
service listens (or why it is down, or "off").

It also lists orphaned secrets: ones a login or rotate wrote to the store
when the store did not answer in time (so the outcome was unknown), or that
could not be deleted. No profile uses them; dbx-cred logout -p NAME removes
them.`

type statusJSON struct {
	Version        string    `json:"version"`
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
	Mode              string     `json:"mode"`
	UserName          string     `json:"user_name,omitempty"`
	State             string     `json:"state"`
	TokenLifetime     string     `json:"token_lifetime,omitempty"`
	CurrentExpiry     *time.Time `json:"current_expiry,omitempty"`
	NextRenewal       *time.Time `json:"next_renewal,omitempty"`
	LastError         string     `json:"last_error,omitempty"`
	LiveDerivedTokens int32      `json:"live_derived_tokens"`
	RootExpiry        *time.Time `json:"root_expiry,omitempty"`
	RootExpiryWarning string     `json:"root_expiry_warning,omitempty"`
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
	fs := c.flags("status", "[--json]", statusHelp)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	var r *pb.StatusResponse
	c.noAutostart = true
	err := c.call(10*time.Second, func(ctx context.Context, client agent) error {
		var err error
		r, err = client.Status(ctx, &pb.StatusRequest{})
		return err
	})
	if err != nil {
		return err
	}
	s := statusJSON{Version: r.GetVersion(), PID: r.GetPid(), Started: r.GetStarted().AsTime(), Socket: r.GetSocket(),
		KeyringBackend: r.GetKeyringBackend(), RegistryPath: r.GetRegistryPath(), ProfileCount: r.GetProfileCount(), Hardened: r.GetHardened(),
		MetadataListen: r.GetMetadataListen(), MetadataError: r.GetMetadataError(), Profiles: []profileStatusJSON{}}
	for _, p := range r.GetProfiles() {
		ps := profileStatusJSON{
			Name: p.GetName(), Mode: enumWord(p.GetMode().String(), "TOKEN_MODE_"), UserName: p.GetUserName(),
			State: enumWord(p.GetState().String(), "PROFILE_STATE_"), LastError: p.GetLastError(),
			LiveDerivedTokens: p.GetLiveDerivedTokens(), RootExpiryWarning: p.GetRootExpiryWarning(),
			CurrentExpiry: optTime(p.GetCurrentExpiry()), NextRenewal: optTime(p.GetNextRenewal()), RootExpiry: optTime(p.GetRootExpiry()),
		}
		if p.GetTokenLifetime() != nil {
			ps.TokenLifetime = p.GetTokenLifetime().AsDuration().String()
		}
		s.Profiles = append(s.Profiles, ps)
	}
	for _, o := range r.GetOrphans() {
		s.Orphans = append(s.Orphans, orphanJSON{Profile: o.GetProfile(), Reason: o.GetReason(), Since: optTime(o.GetSince())})
	}
	if *asJSON {
		return writeJSON(c.io.Stdout, s)
	}
	fmt.Fprintf(c.io.Stdout, "dbx-credd %s, pid %d, up since %s\n", printable(s.Version), s.PID, s.Started.Local().Format(time.RFC3339))
	fmt.Fprintf(c.io.Stdout, "socket:    %s\nkeyring:   %s\nregistry:  %s\nprofiles:  %d\nhardened:  %v\n",
		printable(s.Socket), printable(s.KeyringBackend), printable(s.RegistryPath), s.ProfileCount, s.Hardened)
	switch {
	case s.MetadataError != "":
		fmt.Fprintf(c.io.Stdout, "metadata:  DOWN: %s\n", printable(s.MetadataError))
	case s.MetadataListen != "":
		fmt.Fprintf(c.io.Stdout, "metadata:  %s\n", s.MetadataListen)
	default:
		fmt.Fprintf(c.io.Stdout, "metadata:  off\n")
	}
	for _, p := range s.Profiles {
		fmt.Fprintf(c.io.Stdout, "\nprofile %s (%s, %s) %s\n", printable(p.Name), p.Mode, printable(p.UserName), p.State)
		if p.TokenLifetime != "" {
			fmt.Fprintf(c.io.Stdout, "  token lifetime:  %s\n  live tokens:     %d\n", p.TokenLifetime, p.LiveDerivedTokens)
		}
		if p.CurrentExpiry != nil {
			fmt.Fprintf(c.io.Stdout, "  current expires: %s\n", p.CurrentExpiry.Local().Format(time.RFC3339))
		}
		if p.NextRenewal != nil {
			fmt.Fprintf(c.io.Stdout, "  next renewal:    %s\n", p.NextRenewal.Local().Format(time.RFC3339))
		}
		if p.RootExpiry != nil {
			fmt.Fprintf(c.io.Stdout, "  root expires:    %s\n", p.RootExpiry.Local().Format(time.RFC3339))
		}
		if p.RootExpiryWarning != "" {
			fmt.Fprintf(c.io.Stdout, "  WARNING: %s\n", printable(p.RootExpiryWarning))
		}
		if p.LastError != "" {
			fmt.Fprintf(c.io.Stdout, "  last error:      %s\n", printable(p.LastError))
		}
	}
	for _, o := range s.Orphans {
		since := ""
		if o.Since != nil {
			since = " since " + o.Since.Local().Format(time.RFC3339)
		}
		fmt.Fprintf(c.io.Stdout, "\norphaned secret of profile %s%s: %s\n  remove it with: dbx-cred logout -p %s\n",
			printable(o.Profile), since, printable(o.Reason), printable(o.Profile))
	}
	return nil
}
