package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// CLIKeyringService is the OS-keyring service the Databricks CLI keeps its
// OAuth logins under (auth_storage = secure, the CLI's default), one item
// per profile name or host, holding {"token": {access_token, token_type,
// refresh_token, expiry}}.
const CLIKeyringService = "databricks-cli"

// errNoCLIKeyringLogin: none of the accounts asked for holds a CLI login.
var errNoCLIKeyringLogin = errkind.New(errkind.NotFound, "the OS keyring holds no Databricks CLI login")

// cliKeyringLogin finds the first of keys that holds a CLI login and
// returns the account and its refresh token.
func (s *Service) cliKeyringLogin(ctx context.Context, keys []string) (string, string, error) {
	for _, k := range keys {
		raw, err := s.cliKeyring.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			// No keyring here (a headless machine) or a broken one: the
			// import goes on without it, as when no login is there.
			return "", "", fmt.Errorf("%w: the OS keyring could not be read (%v)", errNoCLIKeyringLogin, err)
		}
		rt := cliRefreshToken(raw)
		if rt == "" {
			return "", "", fmt.Errorf("%w: the Databricks CLI's keyring item %q is not in the form the Databricks CLI writes ({\"token\": {\"refresh_token\": ...}})", profiles.ErrBadInput, k)
		}
		return k, rt, nil
	}
	return "", "", fmt.Errorf("%w under %s (service %s)", errNoCLIKeyringLogin, strings.Join(quoted(keys), " or "), CLIKeyringService)
}

// cliRefreshToken is the refresh token of a CLI keyring item, "" if none.
func cliRefreshToken(raw string) string {
	var item struct {
		Token struct {
			RefreshToken string `json:"refresh_token"`
		} `json:"token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal([]byte(raw), &item) != nil {
		return ""
	}
	if item.Token.RefreshToken != "" {
		return item.Token.RefreshToken
	}
	return item.RefreshToken
}

func quoted(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%q", k)
	}
	return out
}
