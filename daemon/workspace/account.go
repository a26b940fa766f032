package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// AccountMe asks an accounts host who owns an account-level OAuth access
// token (GET /api/2.0/accounts/<account id>/scim/v2/Me): the cheapest call
// that proves an account token works. Workspace SCIM Me refuses account
// tokens, so account logins are validated here.
func (c *Client) AccountMe(ctx context.Context, host, accountID, token string) (User, error) {
	if err := c.probe(ctx, host); err != nil {
		return User{}, err
	}
	doing := fmt.Sprintf("ask who owns the token of account %s", accountID)
	u := host + "/api/2.0/accounts/" + url.PathEscape(accountID) + "/scim/v2/Me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return User{}, fmt.Errorf("%s at %s: %w", doing, host, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return User{}, c.silent(&UnreachableError{Host: host, Err: err}, start)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return User{}, fmt.Errorf("%s at %s: %w", doing, host, ErrRejected)
	case resp.StatusCode == http.StatusNotFound:
		return User{}, fmt.Errorf("%s at %s: the accounts host answered 404: is this an accounts host (e.g. https://accounts.cloud.databricks.com) and the account id right?", doing, host)
	case resp.StatusCode != http.StatusOK:
		return User{}, fmt.Errorf("%s at %s: the accounts host answered %d", doing, host, resp.StatusCode)
	}
	var me struct {
		ID          string `json:"id"`
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal(body, &me); err != nil {
		return User{}, fmt.Errorf("%s at %s: the answer is not SCIM JSON: %v", doing, host, err)
	}
	return User{ID: me.ID, UserName: me.UserName, DisplayName: me.DisplayName}, nil
}
