package helper

import (
	"fmt"

	"github.com/dbx-cred/dbx-cred/helper/envfmt"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// The two ways env and exec hand a profile to Databricks clients.
const (
	// modeToken puts the token itself in DATABRICKS_TOKEN.
	modeToken = "token"
	// modeMetadata points clients at the daemon's metadata-service URL, so
	// no token sits in the environment; SDKs fetch (and refresh) it there.
	modeMetadata = "metadata"
)

// clientEnv is what a mode sets and what it must clear.
type clientEnv struct {
	set   []envfmt.Var
	unset []string
}

// allClientVars are every variable either mode sets; "env --unset" removes
// them all, whichever mode set them.
func allClientVars() []string {
	return []string{"DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_AUTH_TYPE", "DATABRICKS_METADATA_SERVICE_URL", "DATABRICKS_ACCOUNT_ID"}
}

// clientVars asks the daemon for what mode needs. DATABRICKS_AUTH_TYPE is
// set in both modes: without it the SDKs try every strategy in turn and
// refuse to choose when another credential (ARM_CLIENT_SECRET, a
// .databrickscfg DEFAULT profile...) is also configured. The other mode's
// variables are cleared so switching modes in one shell leaves nothing stale.
func (c *cli) clientVars(profile, mode string, ch pb.Channel) (clientEnv, error) {
	switch mode {
	case modeToken:
		tok, err := c.fetchToken(&pb.GetTokenRequest{Profile: profile, Channel: ch})
		if err != nil {
			return clientEnv{}, err
		}
		return withAccount(clientEnv{
			set: []envfmt.Var{
				{Name: "DATABRICKS_HOST", Value: tok.GetProfile().GetHost()},
				{Name: "DATABRICKS_TOKEN", Value: tok.GetAccessToken()},
				{Name: "DATABRICKS_AUTH_TYPE", Value: "pat"},
			},
			unset: []string{"DATABRICKS_METADATA_SERVICE_URL"},
		}, tok.GetProfile().GetAccountId()), nil
	case modeMetadata:
		md, err := c.metadataURL(profile)
		if err != nil {
			return clientEnv{}, err
		}
		return withAccount(clientEnv{
			set: []envfmt.Var{
				{Name: "DATABRICKS_HOST", Value: md.GetHost()},
				{Name: "DATABRICKS_AUTH_TYPE", Value: "metadata-service"},
				{Name: "DATABRICKS_METADATA_SERVICE_URL", Value: md.GetUrl()},
			},
			unset: []string{"DATABRICKS_TOKEN"},
		}, md.GetAccountId()), nil
	}
	return clientEnv{}, usageErr("--mode: unknown mode %q: use %s or %s", mode, modeToken, modeMetadata)
}

// withAccount adds DATABRICKS_ACCOUNT_ID for an account-level profile: the
// SDKs need it beside an accounts host. (exec removes an inherited one
// first; env --unset clears it too.)
func withAccount(e clientEnv, accountID string) clientEnv {
	if accountID != "" {
		e.set = append(e.set, envfmt.Var{Name: "DATABRICKS_ACCOUNT_ID", Value: accountID})
	}
	return e
}

// checkMode rejects a bad --mode before any RPC is made.
func checkMode(mode string) error {
	if mode != modeToken && mode != modeMetadata {
		return usageErr("--mode: unknown mode %q: use %s or %s", mode, modeToken, modeMetadata)
	}
	return nil
}

// modeUsage is the --mode flag's help text.
func modeUsage() string {
	return fmt.Sprintf("`MODE`: %s (DATABRICKS_TOKEN) or %s (DATABRICKS_METADATA_SERVICE_URL, no token in the environment)", modeToken, modeMetadata)
}
