package helper

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/termsafe"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const listHelp = `
Lists the daemon's profiles: name, kind, workspace host, user, and state.
Secrets are never shown. Kinds:
  pat                  the stored personal access token is served as is
  derived-pat          short-lived tokens minted from the stored one
  oauth-m2m            OAuth access tokens of a service principal, from its
                       stored client secret
  oauth-u2m            your own OAuth access tokens, from the refresh token
                       of a browser login (login --oauth) or of the
                       Databricks CLI's (import)
  oidc-federation      OAuth access tokens exchanged for a CI system's ID
                       token (login --federated); nothing is stored
States:
  ready                the token is in the daemon's memory
  stored               the token is in the store, not read yet
  needs-login          the token is missing or was rejected: log in again
  keyring-unavailable  the keyring could not be read
  locked               the file store is locked: dbx-cred unlock

The table shows the state as one word; why a profile is in it is under
"dbx-cred status -p NAME" (and in --output json, as state_message).`

type profileJSON struct {
	Name         string    `json:"name"`
	Host         string    `json:"host"`
	UserName     string    `json:"user_name,omitempty"`
	Kind         string    `json:"kind"`
	Federated    string    `json:"federated,omitempty"`
	Mode         string    `json:"mode,omitempty"`
	State        string    `json:"state"`
	StateMessage string    `json:"state_message,omitempty"`
	Created      time.Time `json:"created,omitempty"`
}

func runList(c *cli, args []string) error {
	fs := c.flags("list", "[-o json]", listHelp)
	out := c.outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).ListProfiles(ctx, &pb.ListProfilesRequest{})
	if err != nil {
		return err
	}
	list := make([]profileJSON, 0, len(resp.GetProfiles()))
	for _, p := range resp.GetProfiles() {
		list = append(list, profileJSON{
			Name: p.GetName(), Host: p.GetHost(), UserName: p.GetUserName(),
			Kind: profileKind(p), Federated: p.GetFederated(), Mode: modeWord(p), State: enumWord(p.GetState().String(), "PROFILE_STATE_"),
			StateMessage: p.GetStateMessage(), Created: p.GetCreated().AsTime(),
		})
	}
	if out.JSON() {
		return writeJSON(c.io.Stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(c.io.Stderr, "No profiles yet. Add one with: dbx-cred login -p NAME --host <workspace URL>")
		return nil
	}
	tw := tabwriter.NewWriter(c.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKIND\tHOST\tUSER\tSTATE")
	// One word per row: a keyring error is the same long sentence for
	// every profile, so it is told once, under status.
	explained := ""
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(p.Name), kindLabel(p.Kind, p.Federated), printable(p.Host), printable(p.UserName), printable(p.State))
		if p.StateMessage != "" && explained == "" {
			explained = p.Name
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if explained != "" {
		fmt.Fprintf(c.io.Stderr, "Why a profile is in its state: dbx-cred status -p %s\n", printable(quoteArg(explained)))
	}
	return nil
}

// profileKind is the word list and status use for what serves a profile
// (audit's token kinds use the same words): "pat" (the stored token itself), "derived-pat" (short-lived
// tokens minted from it), "oauth-m2m" (a service principal's access
// tokens), "oauth-u2m" (a user's, from a refresh token). A rotating PAT is told apart here, from its mode, since the
// store holds the same kind of secret for both.
func profileKind(p *pb.Profile) string {
	if p.GetKind() == pb.CredentialKind_CREDENTIAL_KIND_PAT && p.GetMode() == pb.TokenMode_TOKEN_MODE_ROTATING {
		return "derived-pat"
	}
	return enumWord(p.GetKind().String(), "CREDENTIAL_KIND_")
}

// kindLabel is the kind as list and status print it: a federated
// profile's with its ID token source, "oidc-federation (github)".
func kindLabel(kind, federated string) string {
	if federated == "" {
		return kind
	}
	return kind + " (" + printable(federated) + ")"
}

// modeWord is "rotating" or "static" for PAT profiles; empty for kinds
// that have no such choice (oauth-m2m).
func modeWord(p *pb.Profile) string {
	if p.GetMode() == pb.TokenMode_TOKEN_MODE_UNSPECIFIED {
		return ""
	}
	return enumWord(p.GetMode().String(), "TOKEN_MODE_")
}

// enumWord turns PROFILE_STATE_NEEDS_LOGIN into needs-login.
func enumWord(s, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s, prefix)), "_", "-")
}

// printable keeps terminal escapes and bidi overrides in what the daemon
// or the workspace sent (names, hosts, messages) from reaching the
// terminal; see termsafe. Never for machine formats.
func printable(s string) string { return termsafe.Line(s) }

// printableLines is printable for a text of several lines (a daemon's
// list of fixes): each line made safe on its own, and the ones after the
// first indented under it, instead of one line joined by '?'.
func printableLines(s string, indent string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = termsafe.Line(l)
	}
	return strings.Join(lines, "\n"+indent)
}

// writeJSON is the --json output of list, status and audit: indented, one
// document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
