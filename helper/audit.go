package helper

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const auditHelp = `
Shows the most recent tokens dbx-credd handed out, oldest first: when, for
which profile, through which channel (token, env, git, metadata, ...),
what kind of token (pat, derived-pat, oauth-m2m, oauth-u2m, oidc-federation: the kinds of
dbx-cred list), to which user id, process id and executable, and until
when the token is valid. Never the tokens themselves. The daemon keeps the last 1024
hand-outs in memory and also logs each one ("token served"). The same
token handed to the same process through the same channel within a second
(an SDK asks twice for one call) is one line; N counts the hand-outs.

For the metadata service the kernel names the calling user but not always
the process: pid 0 means it was not found.`

type auditJSON struct {
	Time    time.Time `json:"time"`
	Profile string    `json:"profile"`
	Channel string    `json:"channel"`
	// Via is the forwarding socket's label ("" for the daemon's own).
	Via string `json:"via,omitempty"`
	// Request is what the local proxy forwarded: method, path, status.
	Request string     `json:"request,omitempty"`
	PeerUID int64      `json:"peer_uid"`
	PeerPID int64      `json:"peer_pid"`
	PeerExe string     `json:"peer_exe,omitempty"`
	Kind    string     `json:"kind"`
	Expiry  *time.Time `json:"token_expiry,omitempty"`
	// Count: hand-outs of the same token to the same process through the
	// same channel within a second, counted as one event.
	Count int32 `json:"count"`
}

func runAudit(c *cli, args []string) error {
	fs := c.flags("audit", "[-p NAME] [-n N] [-o json]", auditHelp)
	out := c.outputFlag(fs)
	n := fs.IntP("number", "n", 0, "show at most the `N` most recent hand-outs (default: all kept)")
	profile := fs.StringP("profile", "p", "", "show only the hand-outs of profile `NAME` (default: all profiles)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 0 {
		return shortUsageErr("audit", "-n must not be negative", "dbx-cred audit --help")
	}
	// The daemon cannot filter by profile, so with -p it sends all it
	// keeps (1024 at most) and the last N of that profile's are shown.
	limit := int32(min(*n, 1<<30))
	if *profile != "" {
		limit = 0
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).Audit(ctx, &pb.AuditRequest{Limit: limit})
	if err != nil {
		return err
	}
	events := make([]auditJSON, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		if *profile != "" && e.GetProfile() != *profile {
			continue
		}
		ev := auditJSON{Time: e.GetTime().AsTime(), Profile: e.GetProfile(),
			Channel: enumWord(e.GetChannel().String(), "CHANNEL_"), PeerUID: e.GetPeerUid(), PeerPID: e.GetPeerPid(),
			PeerExe: e.GetPeerExe(), Kind: tokenKindWord(e.GetKind()), Count: max(e.GetCount(), 1), Via: e.GetVia(), Request: e.GetRequest()}
		if e.GetTokenExpiry() != nil {
			t := e.GetTokenExpiry().AsTime()
			ev.Expiry = &t
		}
		events = append(events, ev)
	}
	if *n > 0 && len(events) > *n {
		events = events[len(events)-*n:]
	}
	if out.JSON() {
		return writeJSON(c.io.Stdout, events)
	}
	if len(events) == 0 {
		if *profile != "" {
			fmt.Fprintf(c.io.Stderr, "No tokens handed out for profile %s since dbx-credd started.\n", printable(*profile))
			return nil
		}
		fmt.Fprintln(c.io.Stderr, "No tokens handed out since dbx-credd started.")
		return nil
	}
	tw := tabwriter.NewWriter(c.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPROFILE\tCHANNEL\tKIND\tUID\tPID\tEXE\tEXPIRY\tN\tVIA\tREQUEST")
	for _, e := range events {
		expiry := "never"
		if e.Expiry != nil {
			expiry = e.Expiry.Local().Format(time.RFC3339)
		}
		exe := e.PeerExe
		if exe == "" {
			exe = "-"
		}
		via := e.Via
		if via == "" {
			via = "-"
		}
		req := e.Request
		if req == "" {
			req = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", e.Time.Local().Format(time.RFC3339), printable(e.Profile),
			e.Channel, e.Kind, uidWord(e.PeerUID), e.PeerPID, printable(exe), expiry, e.Count, printable(via), printable(req))
	}
	return tw.Flush()
}

// uidWord shows -1 (the OS could not say) as "?".
func uidWord(uid int64) string {
	if uid < 0 {
		return "?"
	}
	return strconv.FormatInt(uid, 10)
}

// tokenKindWord names what was handed out in profileKind's words, so one
// profile's kind reads the same in list, status and audit. TOKEN_KIND_OAUTH
// is every OAuth access token that is not a service principal's
// (TOKEN_KIND_OAUTH_M2M), that is a user's: oauth-u2m.
func tokenKindWord(k pb.TokenKind) string {
	if k == pb.TokenKind_TOKEN_KIND_OAUTH {
		return "oauth-u2m"
	}
	return enumWord(k.String(), "TOKEN_KIND_")
}
