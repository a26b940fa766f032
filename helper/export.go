package helper

import (
	"fmt"
	"os"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/databrickscfg"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const exportHelp = `
Prints a .databrickscfg profile block that reaches the profile through
dbx-credd, with no secret in it, to paste into a config (the reverse of
import, or to set up another tool):

  dbx-cred export -p prod >> ~/.databrickscfg
  [prod]
  host                 = https://adb-123.azuredatabricks.net
  auth_type            = metadata-service
  metadata_service_url = http://127.0.0.1:8471/...

  dbx-cred export -p prod --via cli        # auth_type = databricks-cli
                                           # databricks_cli_path = this dbx-cred

metadata-service (the default) works for every tool. --via cli does not
work for the Databricks CLI itself, which never runs databricks_cli_path;
use it only for profiles that just the SDKs or Terraform read.

--with-token prints the profile's current token instead (a short-lived one
for a rotating profile), for a machine without dbx-credd. It is a plaintext
secret: it goes only to stdout, with a warning on stderr.`

func runExport(c *cli, args []string) error {
	fs := c.flags("export", "[-p NAME] [--format databrickscfg] [--via metadata|cli] [--with-token]", exportHelp)
	profile := c.profileFlag(fs)
	format := fs.String("format", "databrickscfg", "output `FORMAT`; only databrickscfg for now")
	via := fs.String("via", "metadata", "`HOOK`: metadata (auth_type = metadata-service: every tool) or cli (auth_type = databricks-cli: the SDKs, not the Databricks CLI)")
	withToken := fs.Bool("with-token", false, "print the current token itself (plaintext; see --help)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "databrickscfg" {
		return usageErr("export: --format %q: only databrickscfg is supported", *format)
	}
	if err := checkVia(*via); err != nil {
		return err
	}
	list, err := c.listProfiles()
	if err != nil {
		return err
	}
	host := ""
	for _, p := range list {
		if p.GetName() == *profile {
			host = p.GetHost()
		}
	}
	if host == "" {
		return &exitError{code: exitNoProfile, msg: fmt.Sprintf("unknown profile %q: see dbx-cred list, or log in with dbx-cred login -p %s --host <workspace URL>",
			*profile, quoteArg(*profile))}
	}
	// Building the block with the editor writes every value so that the
	// SDKs read it back unchanged.
	block := databrickscfg.Parse([]byte("[" + *profile + "]\n"))
	set := func(k, v string) error {
		if err := block.Set(*profile, k, v); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	if err := set("host", host); err != nil {
		return err
	}
	if *withToken {
		tok, err := c.fetchToken(&pb.GetTokenRequest{Profile: *profile, Channel: pb.Channel_CHANNEL_TOKEN})
		if err != nil {
			return err
		}
		if err := set("auth_type", "pat"); err != nil {
			return err
		}
		if err := set("token", tok.GetAccessToken()); err != nil {
			return err
		}
		life := "it does not expire: it is the stored token"
		if e := tok.GetExpiry(); e != nil {
			life = "it expires at " + e.AsTime().Local().Format(time.RFC3339)
		}
		fmt.Fprintf(c.io.Stderr, "WARNING: this block holds a plaintext token (%s); keep it out of files others can read.\n", life)
	} else {
		h := hookFor(*via)
		authType, key := h.AuthType, h.Key
		value := ""
		if *via == "cli" {
			if value, err = os.Executable(); err != nil {
				return fmt.Errorf("export: find this dbx-cred's path for databricks_cli_path: %w; use --via metadata", err)
			}
		} else {
			md, err := c.metadataURL(*profile)
			if err != nil {
				return err
			}
			value = md.GetUrl()
		}
		if err := set("auth_type", authType); err != nil {
			return err
		}
		if err := set(key, value); err != nil {
			return err
		}
		if *via == "cli" {
			c.warnViaCLI()
		}
	}
	_, err = c.io.Stdout.Write(block.Bytes())
	return err
}
