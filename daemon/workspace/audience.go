package workspace

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/outbound"
)

// PublishedAudience is the first token_federation_default_oidc_audiences
// of host's /.well-known/databricks-config, "" when there is none or it
// cannot be read (then the default applies, as in the SDKs, where this
// lookup is best-effort too).
func PublishedAudience(ctx context.Context, host string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/.well-known/databricks-config", nil)
	if err != nil {
		return ""
	}
	resp, err := outbound.Client(10 * time.Second).Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var meta struct {
		Audiences []string `json:"token_federation_default_oidc_audiences"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta) != nil || len(meta.Audiences) == 0 {
		return ""
	}
	return meta.Audiences[0]
}
