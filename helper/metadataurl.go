package helper

import (
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const metadataURLHelp = `
Prints the profile's metadata-service URL: dbx-credd answers it with the
profile's current token, in the protocol every Databricks SDK, the CLI and
Terraform speak (auth type "metadata-service"). Point a tool at it instead
of giving it a token:

  export DATABRICKS_HOST=https://adb-123.azuredatabricks.net
  export DATABRICKS_AUTH_TYPE=metadata-service
  export DATABRICKS_METADATA_SERVICE_URL="$(dbx-cred metadata-url -p prod)"

or in ~/.databrickscfg: auth_type = metadata-service and
metadata_service_url = <the URL>. The URL stays the same across daemon
restarts. Treat it like a password: anyone of your user who has it gets
tokens (on Linux dbx-credd refuses other users even if they have it).
--rotate replaces it; the old URL stops working at once.`

func runMetadataURL(c *cli, args []string) error {
	fs := c.flags("metadata-url", "[-p NAME] [--rotate]", metadataURLHelp)
	profile := c.profileFlag(fs)
	rotate := fs.Bool("rotate", false, "replace the URL; the old one stops working at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).MetadataURL(ctx, &pb.MetadataURLRequest{Profile: *profile, Rotate: *rotate})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.io.Stdout, resp.GetUrl())
	return nil
}
