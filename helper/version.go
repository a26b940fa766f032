package helper

import (
	"fmt"
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
after "+dbx-cred." is dbx-cred's own version.`

func runVersion(c *cli, args []string) error {
	fs := c.flags("version", "", versionHelp)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.io.Stdout, "Databricks CLI %s+dbx-cred.%s\n", cliProtocolVersion, semverBuild(version.Version))
	return err
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
