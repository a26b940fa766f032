package helper

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/version"
)

// cliProtocolVersion is the Databricks CLI release whose "auth token" flags
// dbx-cred accepts. databricks-sdk-go passes --profile from v0.207.1 and
// --force-refresh from v0.296.0, and parses "version" output exactly as
// "Databricks CLI <semver>"; anything else makes it fall back to --host.
const cliProtocolVersion = "v0.296.0"

const versionHelp = `
Prints the version as one line the Databricks SDKs parse, because they run
"dbx-cred version" when dbx-cred is their databricks_cli_path:

  Databricks CLI v0.296.0+dbx-cred.1.4.0

v0.296.0 is the Databricks CLI credential protocol dbx-cred speaks; the part
after "+dbx-cred." is dbx-cred's own version. "dbx-cred --version" says the
same for people ("dbx-cred 1.4.0 (Databricks CLI credential protocol
v0.296.0)"), as "dbx-credd --version" does for the daemon.

--output json prints what the Databricks CLI prints there, which the SDK
for Python reads (its integer fields Major, Minor and Patch; without them
it ignores the profile and never passes --force-refresh):

  {
    "Major": 0,
    "Minor": 296,
    "Patch": 0,
    "Prerelease": "",
    "Version": "0.296.0+dbx-cred.1.4.0"
  }

Exit status:
  0   success
  64  usage error`

// cliVersionJSON is the Databricks CLI's "version --output json" object,
// the fields the SDKs read; the CLI's own build details (commit, branch)
// would describe the CLI, not dbx-cred, so they are left out.
type cliVersionJSON struct {
	Major      int    `json:"Major"`
	Minor      int    `json:"Minor"`
	Patch      int    `json:"Patch"`
	Prerelease string `json:"Prerelease"`
	Version    string `json:"Version"`
}

func runVersion(c *cli, args []string) error {
	fs := c.flags("version", "[-o json]", versionHelp)
	out := c.outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	full := cliProtocolVersion + "+dbx-cred." + semverBuild(version.Version)
	if out.JSON() {
		v, err := protocolVersionJSON(full)
		if err != nil {
			return err
		}
		return writeJSON(c.io.Stdout, v)
	}
	_, err := fmt.Fprintf(c.io.Stdout, "Databricks CLI %s\n", full)
	return err
}

// protocolVersionJSON splits full ("v0.296.0+dbx-cred.X") into the CLI's
// fields.
func protocolVersionJSON(full string) (cliVersionJSON, error) {
	core, _, _ := strings.Cut(strings.TrimPrefix(full, "v"), "+")
	core, pre, _ := strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return cliVersionJSON{}, fmt.Errorf("version: %q is not major.minor.patch", full)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return cliVersionJSON{}, fmt.Errorf("version: %q is not major.minor.patch", full)
		}
		n[i] = v
	}
	return cliVersionJSON{Major: n[0], Minor: n[1], Patch: n[2], Prerelease: pre, Version: strings.TrimPrefix(full, "v")}, nil
}

// semverBuild makes v a valid semver build-metadata string (dot-separated
// runs of [0-9A-Za-z-]), so a version like "v1.2.3-rc1+dirty" cannot make
// the whole line unparsable for the SDK.
func semverBuild(v string) string {
	var parts []string
	for _, p := range strings.Split(v, ".") {
		p = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' {
				return r
			}
			return '-'
		}, p)
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ".")
}
