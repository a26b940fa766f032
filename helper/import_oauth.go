package helper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/client"
	"github.com/dbx-cred/dbx-cred/internal/databrickscfg"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// tokenCache is the Databricks CLI's plaintext login cache
// (auth_storage = plaintext): {"version": 1, "tokens": {"<profile or
// host>": {..., "refresh_token": "..."}}}. Entries stay raw so that a
// rewrite drops only the imported ones and keeps every field of the
// others, known to us or not.
type tokenCache struct {
	path   string
	target *databrickscfg.Target // nil when the file does not exist
	top    map[string]json.RawMessage
	tokens map[string]json.RawMessage
	// problem is why the file cannot be used; it is then never written.
	problem error
}

// defaultTokenCache is where the CLI keeps its plaintext logins.
const defaultTokenCache = "~/.databricks/token-cache.json"

// tokenCachePath is --token-cache, else where the CLI keeps it; "" when
// there is no home directory to find it in (then there is no cache: a
// PAT import must not fail over it).
func tokenCachePath(flagValue string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	p, err := configPath(defaultTokenCache, getenv)
	if err != nil {
		return "", nil
	}
	return p, nil
}

func loadTokenCache(path string) *tokenCache {
	if path == "" {
		return &tokenCache{path: defaultTokenCache}
	}
	tc := &tokenCache{path: path}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return tc
	}
	t, err := databrickscfg.Open(path)
	if err != nil {
		tc.problem = err
		return tc
	}
	tc.target, tc.path = t, t.Path
	tc.problem = tc.parse(t.Data)
	return tc
}

func (tc *tokenCache) parse(data []byte) error {
	if err := json.Unmarshal(data, &tc.top); err != nil || tc.top == nil {
		return fmt.Errorf("%s is not valid JSON (%v)", tc.path, err)
	}
	if raw, ok := tc.top["tokens"]; ok {
		if err := json.Unmarshal(raw, &tc.tokens); err != nil {
			return fmt.Errorf("%s: \"tokens\" is not an object (%v)", tc.path, err)
		}
	}
	return nil
}

// find returns the entry for a profile and its refresh token: the entry
// named after the profile, else one keyed by its host, as the CLI also
// keys them (<host>, or <host>/oidc/accounts/<id> at account level).
func (tc *tokenCache) find(profile, host, accountID string) (key, refresh string) {
	if r := tc.refreshToken(profile); r != "" {
		return profile, r
	}
	want, err := hosturl.Normalize(host)
	if err != nil {
		return "", ""
	}
	for k := range tc.tokens {
		h, acct := splitAccountKey(k)
		if acct != accountID {
			continue
		}
		if norm, err := hosturl.Normalize(h); err == nil && norm == want {
			if r := tc.refreshToken(k); r != "" {
				return k, r
			}
		}
	}
	return "", ""
}

// splitAccountKey splits "<host>/oidc/accounts/<id>" into host and id.
func splitAccountKey(k string) (host, accountID string) {
	k = strings.TrimRight(k, "/")
	if i := strings.Index(k, "/oidc/accounts/"); i >= 0 {
		return k[:i], k[i+len("/oidc/accounts/"):]
	}
	return k, ""
}

func (tc *tokenCache) refreshToken(key string) string {
	var e struct {
		RefreshToken string `json:"refresh_token"`
	}
	raw, ok := tc.tokens[key]
	if !ok || json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return strings.TrimSpace(e.RefreshToken)
}

// without is the file's new content: the CLI's layout (two-space
// indent), every other entry and top-level field as they were.
func (tc *tokenCache) without(keys []string) ([]byte, error) {
	tokens := make(map[string]json.RawMessage, len(tc.tokens))
	for k, v := range tc.tokens {
		tokens[k] = v
	}
	for _, k := range keys {
		delete(tokens, k)
	}
	raw, err := json.Marshal(tokens)
	if err != nil {
		return nil, err
	}
	top := make(map[string]json.RawMessage, len(tc.top))
	for k, v := range tc.top {
		top[k] = v
	}
	top["tokens"] = raw
	return json.MarshalIndent(top, "", "  ")
}

// removeTokenCacheEntries drops keys from the cache at path with import's
// guarantees: a 0600 backup beside it first, then one atomic rename, so a
// crash leaves the old file or the new one. The CLI rewrites the file on
// every refresh, so a change between read and rename is retried on the
// new content rather than lost. It returns the backup's path.
func (c *cli) removeTokenCacheEntries(path string, keys []string) (string, error) {
	for attempt := 1; ; attempt++ {
		tc := loadTokenCache(path)
		if path == "" {
			return "", nil
		}
		if tc.problem != nil {
			return "", tc.problem
		}
		present := false
		for _, k := range keys {
			_, ok := tc.tokens[k]
			present = present || ok
		}
		if tc.target == nil || !present {
			return "", nil
		}
		data, err := tc.without(keys)
		if err != nil {
			return "", err
		}
		for _, tmp := range databrickscfg.StaleTemps(tc.target.Path) {
			os.Remove(tmp)
		}
		backup, err := tc.target.Backup(time.Now())
		if err != nil {
			return "", err
		}
		c.crashAt("after-cache-backup")
		tmp, err := tc.target.WriteTemp(append(data, '\n'))
		if err != nil {
			os.Remove(backup)
			return "", err
		}
		c.crashAt("after-cache-temp-write")
		err = tc.target.Commit(tmp)
		if err == nil {
			return backup, nil
		}
		// Nothing of ours replaced the file: this backup only repeats it.
		os.Remove(backup)
		if now, rerr := os.ReadFile(tc.target.Path); attempt >= 3 || rerr != nil || bytes.Equal(now, tc.target.Data) {
			return "", err
		}
	}
}

// oauthCandidate decides what import does with a profile that has no
// token or client_secret: one the Databricks CLI logs in (auth_type =
// databricks-cli, or no auth_type at all) takes its refresh token from
// the CLI's cache.
func oauthCandidate(file *databrickscfg.File, it *importItem, cache *tokenCache) {
	authType, _ := file.Get(it.name, "auth_type")
	authType = strings.TrimSpace(authType)
	cliPath, _ := file.Get(it.name, "databricks_cli_path")
	switch {
	case authType == "databricks-cli" && strings.HasPrefix(filepath.Base(strings.TrimSpace(cliPath)), "dbx-cred"):
		it.note = "skipped: it already uses dbx-cred (databricks_cli_path)"
		return
	case authType != "" && authType != "databricks-cli":
		it.note = "skipped: no token or client_secret in the file"
		return
	}
	it.cliAuth = authType == "databricks-cli"
	acct, _ := file.Get(it.name, "account_id")
	it.accountID = strings.TrimSpace(acct)
	// A normalised host has no shell metacharacters (hosturl), so it
	// needs no quotes; anything else is quoted.
	host := quoteArg(strings.TrimSpace(it.host))
	if norm, err := hosturl.Normalize(it.host); err == nil {
		host = norm
	}
	fix := fmt.Sprintf("dbx-cred login -p %s --host %s --oauth", quoteArg(it.name), host)
	if it.accountID != "" {
		fix += " --account-id " + quoteArg(it.accountID)
	}
	switch {
	case strings.TrimSpace(it.host) == "" && it.cliAuth:
		it.err = fmt.Errorf("it has auth_type = databricks-cli but no host: add host = <workspace URL> to [%s]", it.name)
	case strings.TrimSpace(it.host) == "":
		it.note = "skipped: no token or client_secret in the file"
	case cache.problem != nil && it.cliAuth:
		it.err = fmt.Errorf("the Databricks CLI's login cache cannot be read: %v; it was left as it is: fix or remove it, or log in anew with %s", cache.problem, fix)
	case cache.problem != nil:
		it.note = "skipped: no token or client_secret in the file, and the Databricks CLI's login cache cannot be read (see above)"
	default:
		it.oauthKey, it.refresh = cache.find(it.name, it.host, it.accountID)
		if it.oauthKey == "" {
			it.resumable = true
			it.keyringKeys = cliKeyringKeys(it.name, it.host, it.accountID)
			it.note = fmt.Sprintf("skipped: no token or client_secret in the file, no Databricks CLI login for it in %s, "+
				"and none in the OS keyring, where the CLI keeps logins by default (auth_storage = secure): log in with %s", cache.path, fix)
			it.plan = fmt.Sprintf("no Databricks CLI login for it in %s: dbx-credd takes over the one the CLI keeps in the OS keyring "+
				"(service databricks-cli, account %s), if any, and deletes that item; else it is skipped (log in with %s)", cache.path, strings.Join(quoteKeys(it.keyringKeys), " or "), fix)
		}
	}
}

// importOAuthOne moves one profile's refresh token from the CLI's cache
// into the daemon, then edits the profile as importOne does. The cache
// entry itself is removed afterwards, for all profiles at once.
func (c *cli) importOAuthOne(file *databrickscfg.File, it *importItem, via, cliPath string, insecure bool) error {
	if err := cleartextRefused(it.host, insecure); err != nil {
		return err
	}
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).ImportOAuth(ctx, &pb.ImportOAuthRequest{Profile: it.name, Host: it.host, AccountId: it.accountID,
		RefreshToken: it.refresh, InsecureHttp: insecure})
	if errkind.Of(err) == errkind.Unsupported {
		return &exitError{code: exitFailure, msg: "this dbx-credd cannot import OAuth logins (ImportOAuth is unimplemented): upgrade dbx-credd"}
	}
	if err != nil {
		return err
	}
	it.user, it.store = resp.GetProfile().GetUserName(), storeWords(resp.GetProfile())
	c.crashAt("after-oauth-import")
	return c.pointAtDaemon(file, it, "", via, cliPath, false)
}

// finishOAuthImports removes the imported logins' entries from the CLI's
// cache, before their profiles are rewritten. Their refresh tokens are dead
// (superseded by the daemon's), but the CLI would still present one, and a
// superseded refresh token presented again gets the whole login revoked,
// the daemon's copy included.
func (c *cli) finishOAuthImports(cachePath string, items []*importItem) error {
	var keys, names []string
	for _, it := range items {
		if it.done && it.oauthKey != "" {
			keys, names = append(keys, it.oauthKey), append(names, it.name)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	backup, err := c.removeTokenCacheEntries(cachePath, keys)
	if err != nil {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("import: %v; the logins of %s are in dbx-credd, but %s still holds their dead refresh tokens "+
			"(entries %s): remove those entries yourself, or run the import again, before the Databricks CLI uses them",
			err, strings.Join(names, ", "), cachePath, strings.Join(quoteKeys(keys), ", "))}
	}
	c.crashAt("after-cache-rename")
	if backup != "" {
		fmt.Fprintf(c.io.Stdout, "Removed %s from %s.\n", strings.Join(quoteKeys(keys), ", "), printable(cachePath))
		fmt.Fprintf(c.io.Stderr, "WARNING: the backup %s holds the Databricks CLI's other logins' refresh tokens in clear: delete it once all works.\n", backup)
	}
	return nil
}

func quoteKeys(keys []string) []string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", printable(k))
	}
	return q
}

// cliKeyringKeys are the accounts the Databricks CLI files a login under
// in the OS keyring: the profile name, else the host (the same keys as its
// token-cache.json).
func cliKeyringKeys(name, host, accountID string) []string {
	keys := []string{name}
	if norm, err := hosturl.Normalize(host); err == nil {
		if accountID != "" {
			norm += "/oidc/accounts/" + accountID
		}
		keys = append(keys, norm)
	}
	return keys
}

// importFromCLIKeyring asks the daemon to take over the login the
// Databricks CLI keeps in the OS keyring (the helper does not read the
// keyring; the daemon does, and deletes the item once its successor is
// stored). No such item leaves the profile skipped, with its note.
func (c *cli) importFromCLIKeyring(file *databrickscfg.File, it *importItem, via, cliPath string, insecure bool) {
	if err := cleartextRefused(it.host, insecure); err != nil {
		it.note, it.err = "", err
		return
	}
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).ImportOAuth(ctx, &pb.ImportOAuthRequest{Profile: it.name, Host: it.host, AccountId: it.accountID,
		CliKeyringKeys: it.keyringKeys, InsecureHttp: insecure})
	none := false
	if noCLIKeyringLogin(err) {
		// Where it looked, or why it could not read the keyring.
		if kind := errkind.Of(err); kind == errkind.NotFound {
			it.note += " (dbx-credd: " + err.Error() + ")"
		}
		none, err = true, nil
	}
	switch {
	case none:
		return
	case err != nil:
		it.note, it.err = "", err
		return
	}
	it.note, it.user, it.keyringKey, it.advice = "", resp.GetProfile().GetUserName(), resp.GetCliKeyringKey(), resp.GetAdvice()
	it.store = storeWords(resp.GetProfile())
	it.err = c.pointAtDaemon(file, it, "", via, cliPath, false)
}

// resumeOAuthImport finishes an import a crash cut short after the CLI's
// cache lost the entry but before the profile was rewritten: the daemon
// then already holds the login (an oauth-u2m profile of that name and
// host), and only the rewrite is left. Anything else keeps its note.
func (c *cli) resumeOAuthImport(file *databrickscfg.File, it *importItem, via, cliPath string) {
	list, err := c.listProfiles()
	if err != nil {
		return
	}
	host, err := hosturl.Normalize(it.host)
	if err != nil {
		return
	}
	for _, p := range list {
		if p.GetName() == it.name && p.GetKind() == pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M &&
			p.GetHost() == host && p.GetAccountId() == it.accountID {
			it.note, it.resumed, it.user, it.store = "", true, p.GetUserName(), storeWords(p)
			it.err = c.pointAtDaemon(file, it, "", via, cliPath, false)
			return
		}
	}
}

// dropCLIKeyringItem follows a resumed import: the crash may have come
// after dbx-credd stored a login taken from the CLI's OS keyring but
// before it deleted the item, whose refresh token is superseded and would
// get the login revoked the day the CLI presents it. Asked again, the
// daemon answers from the profile and deletes the item; no item is
// nothing to do.
func (c *cli) dropCLIKeyringItem(it *importItem, insecure bool) {
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).ImportOAuth(ctx, &pb.ImportOAuthRequest{Profile: it.name, Host: it.host, AccountId: it.accountID,
		CliKeyringKeys: it.keyringKeys, InsecureHttp: insecure})
	switch {
	case err == nil:
		it.keyringKey, it.advice = resp.GetCliKeyringKey(), resp.GetAdvice()
	case noCLIKeyringLogin(err):
	default:
		it.advice = fmt.Sprintf("dbx-credd could not check the Databricks CLI's OS-keyring items %s (service databricks-cli) for this login (%v): "+
			"if one is left, delete it before the CLI uses it, as its refresh token is superseded and presenting it would make the workspace revoke this login",
			strings.Join(quoteKeys(it.keyringKeys), " or "), err)
	}
}

// noCLIKeyringLogin: the daemon found no CLI login in the OS keyring
// (NotFound), cannot look (Unsupported), or predates cli_keyring_keys: such
// a dbx-credd ignored them and refused the empty refresh token as bad
// input, and as it also predates kinds on the wire, its BadInput came
// without one. A current daemon's BadInput is a real error.
func noCLIKeyringLogin(err error) bool {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return false
	}
	return ce.Kind == errkind.NotFound || ce.Kind == errkind.Unsupported || (ce.Kind == errkind.BadInput && !ce.FromDaemon())
}
