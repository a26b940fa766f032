package databrickscfg

import "fmt"

// Hook is how a profile sends the Databricks tools to dbx-cred instead of
// holding a secret: an auth_type and the one key that goes with it.
type Hook struct {
	AuthType, Key string
}

// The two hooks dbx-cred writes: the metadata-service URL, which every
// tool follows, and databricks_cli_path, which the SDKs (not the
// Databricks CLI itself) run.
var (
	MetadataHook = Hook{AuthType: "metadata-service", Key: "metadata_service_url"}
	CLIHook      = Hook{AuthType: "databricks-cli", Key: "databricks_cli_path"}
)

// Repoint is the edit that moves profile name onto hook h with value (the
// URL or the path): the secret line secretKey goes ("" keeps it), every
// auth_type line goes first when dropAuthTypes (an imported Databricks CLI
// login must not be read as the CLI's own any more), then auth_type and
// h.Key are set. auth_type is always set: with it the SDKs use only the
// hook, never a client_id left in the profile (which alone would make them
// try oauth-m2m, with no secret). It edits a copy of f, which it returns,
// so that a failed edit leaves f as it was.
func (f *File) Repoint(name, secretKey string, dropAuthTypes bool, h Hook, value string) (*File, error) {
	g := Parse(f.Bytes())
	if secretKey != "" {
		g.Delete(name, secretKey)
	}
	if dropAuthTypes {
		g.Delete(name, "auth_type")
	}
	if err := g.Set(name, "auth_type", h.AuthType); err != nil {
		return nil, fmt.Errorf("edit the profile: %w", err)
	}
	if err := g.Set(name, h.Key, value); err != nil {
		return nil, fmt.Errorf("edit the profile: %w", err)
	}
	return g, nil
}
