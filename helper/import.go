package helper

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/databrickscfg"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const importHelp = `
Moves the tokens of a .databrickscfg into dbx-credd's store (the OS keyring,
the encrypted file or the kernel keyring: see dbx-cred status) and rewrites the
file so the Databricks CLI, SDKs and Terraform keep working, with no secret
left in it:

  dbx-cred import --all --dry-run        # show the plan; changes nothing
  dbx-cred import --all                  # every profile with a token or client_secret
  dbx-cred import -p prod -p dev         # only these
  dbx-cred import --all --via cli        # auth_type = databricks-cli: SDKs only

For each chosen profile with a token, dbx-cred logs it in through dbx-credd
(the workspace checks it first), makes sure the daemon serves it, and only
then rewrites that profile: the token line goes, and

  auth_type            = metadata-service
  metadata_service_url = <the profile's URL from dbx-credd>      (--via metadata)

or auth_type = databricks-cli and databricks_cli_path = <this dbx-cred>
(--via cli) is set. A service principal profile (client_id and
client_secret) is logged in as OAuth M2M, as login --client-id does: its
client_secret line goes the same way; client_id, not a secret, stays, and
auth_type keeps the SDKs from trying oauth-m2m with it. Keep the default for any profile the Databricks CLI
reads: the CLI never runs databricks_cli_path (it reads its own login cache
and fails with "cache: no cached credentials"), so --via cli suits
profiles only the SDKs and Terraform use, and says so when it writes one. A profile whose host is http:// and not this machine is
not imported (the token would cross the network in clear) unless
--insecure-http is given, as for login. --keep-token sets those but leaves the token line.
The Databricks CLI's own OAuth logins move too. A profile with auth_type =
databricks-cli (not already pointing at dbx-cred), or with no token,
client_secret or auth_type at all, is looked up in the CLI's plaintext
login cache (--token-cache, default ~/.databricks/token-cache.json): the
entry named after the profile, else the one of its host (at account level
<host>/oidc/accounts/<account_id>). Its refresh token goes to dbx-credd,
which proves it with one refresh and keeps the new one (oauth-u2m); the
profile is rewritten as above, its auth_type = databricks-cli lines
dropped, and the entry leaves the cache: the cache is backed up beside
itself (0600) and replaced in one rename, other entries and fields kept.
The CLI's copy of that refresh token is dead from then on (refresh tokens
rotate), so do not run "databricks auth login" for such a profile: dbx-cred
does not need it, and it would put auth_type = databricks-cli back. A
cache that is not valid JSON is named and left alone, and nothing is
imported from it. A login not in that file is looked for where the CLI
keeps logins by default (auth_storage = secure): the OS keyring, service
databricks-cli, under the profile name or the host. dbx-credd reads it
there (the helper never reads the keyring), takes it over the same way and
deletes the CLI's item, whose refresh token is then dead. With neither, the
profile is skipped: log in with dbx-cred login -p NAME --oauth.

Everything else in the file stays byte for byte: comments, blank lines, key
order, other profiles, [__settings__]. A profile whose token the workspace
rejects is left as it is and reported; the others go ahead.

Before any change the file is copied to <file>.dbx-cred-backup-<UTC time>
(mode 0600). That backup holds the plaintext tokens: delete it once the
imported profiles work. The file is replaced in one rename, keeping its mode
and owner; a symlinked file is replaced where the link points.

The file is --config, else $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg.
dbx-credd must be running, and keep running for the rewritten profiles.`

// importItem is one chosen profile and what happened to it.
type importItem struct {
	name, host string
	store      string // where the daemon put the secret, in words (storeWords)
	hasToken   bool
	// clientID is set for a service principal profile (client_id and
	// client_secret): its secret is logged in as OAuth M2M.
	clientID string
	// oauthKey names the Databricks CLI's token-cache.json entry whose
	// refresh token this profile imports (ImportOAuth); refresh is that
	// token, kept only in memory. cliAuth: the profile had auth_type =
	// databricks-cli, so it is surely an OAuth login.
	oauthKey, refresh, accountID string
	cliAuth                      bool
	// resumable: a CLI OAuth login with no entry left in the cache, which
	// an earlier import may have moved into the daemon before a crash
	// stopped it short of rewriting the profile; resumed: it had.
	resumable, resumed bool
	// keyringKeys: where the CLI's OS keyring may hold this login (a
	// resumable profile's fallback); keyringKey is the one imported, and
	// advice what the daemon said is left to do.
	keyringKeys        []string
	keyringKey, advice string
	note               string // why it is skipped; empty when it is imported
	plan               string // what a dry run says instead of note, when set
	err                error  // why the import failed
	user               string
	done               bool
}

// importOptions are import's flags.
type importOptions struct {
	names                               nameList
	all, dryRun, keep, static, insecure bool
	config, via, cacheFlag              string
}

func runImport(c *cli, args []string) error {
	o, err := parseImportFlags(c, args)
	if err != nil {
		return err
	}
	path, err := configPath(o.config, c.io.Getenv)
	if err != nil {
		return err
	}
	target, err := databrickscfg.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return missingConfig(path, o.config != "", c.io.Getenv("DATABRICKS_CONFIG_FILE") != "")
	}
	if err != nil {
		return fmt.Errorf("import: %w: pass --config PATH or set DATABRICKS_CONFIG_FILE", err)
	}
	file := databrickscfg.Parse(target.Data)
	if p := file.Problems(); len(p) > 0 {
		return fmt.Errorf("import: the Databricks SDKs cannot read %s either (%s): fix that line first", target.Path, p[0])
	}
	cachePath, err := tokenCachePath(o.cacheFlag, c.io.Getenv)
	if err != nil {
		return err
	}
	cache := loadTokenCache(cachePath)
	if cache.problem != nil {
		fmt.Fprintf(c.io.Stderr, "WARNING: %s: no OAuth login is imported from it, and it is left as it is.\n", printable(cache.problem.Error()))
	}
	items, err := importPlan(file, o.names, o.all, o.insecure, cache)
	if err != nil {
		return err
	}
	if o.dryRun {
		c.printPlan(target.Path, cache.path, items, o.via, o.keep)
		return nil
	}
	if !anyToImport(items) {
		c.printResults(items, cache.path)
		fmt.Fprintf(c.io.Stdout, "Nothing to import from %s.\n", target.Path)
		return failedErr(items, target.Path)
	}
	return c.importItems(o, target, file, cache.path, items)
}

func parseImportFlags(c *cli, args []string) (*importOptions, error) {
	o := &importOptions{}
	fs := c.flags("import", "[--config PATH] [--token-cache PATH] (-p NAME ... | --all) [--dry-run] [--keep-token] [--via metadata|cli]", importHelp)
	fs.VarP(&o.names, "profile", "p", "a profile `NAME` to import (repeatable)")
	fs.BoolVar(&o.all, "all", false, "import every profile that has a token or a client_secret")
	fs.StringVar(&o.config, "config", "", "the `PATH` of the file (default $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan; change nothing, log nothing in")
	fs.BoolVar(&o.keep, "keep-token", false, "log in and set auth_type, but leave the token line in the file")
	fs.StringVar(&o.via, "via", "metadata", "`HOOK` tools use to reach dbx-cred: metadata (metadata-service: every tool) or cli (databricks_cli_path: the SDKs, not the Databricks CLI)")
	fs.BoolVar(&o.static, "static", false, "serve the stored tokens themselves instead of minting short-lived ones (see login --help)")
	fs.BoolVar(&o.insecure, "insecure-http", false, "allow http:// hosts that are not this machine: their tokens cross the network in clear (see login --help)")
	fs.StringVar(&o.cacheFlag, "token-cache", "", "the Databricks CLI's OAuth login cache, `PATH` (default ~/.databricks/token-cache.json)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if err := checkVia(o.via); err != nil {
		return nil, err
	}
	if o.all == (len(o.names) > 0) {
		return nil, usageErr("import: name the profiles with -p NAME (repeatable), or pass --all; try dbx-cred import --all --dry-run")
	}
	return o, nil
}

// anyToImport: some item is to be imported, or an interrupted import of
// it resumed.
func anyToImport(items []*importItem) bool {
	for _, it := range items {
		if (it.note == "" || it.resumable) && it.err == nil {
			return true
		}
	}
	return false
}

// importItems logs each item in, then rewrites the file: a backup first,
// and the CLI's cache loses the imported OAuth entries before the
// profiles are rewritten.
func (c *cli) importItems(o *importOptions, target *databrickscfg.Target, file *databrickscfg.File, cachePath string, items []*importItem) error {
	// The daemon must answer before anything is written.
	if _, err := c.listProfiles(); err != nil {
		return err
	}
	for _, tmp := range databrickscfg.StaleTemps(target.Path) {
		// Left by an interrupted import; never the config itself.
		if os.Remove(tmp) == nil {
			fmt.Fprintf(c.io.Stderr, "Removed %s, left by an interrupted import.\n", tmp)
		}
	}
	backup, err := target.Backup(time.Now())
	if err != nil {
		return fmt.Errorf("import: %w; nothing was changed", err)
	}
	c.crashAt("after-backup")
	cliPath := ""
	if o.via == "cli" {
		if cliPath, err = os.Executable(); err != nil {
			return fmt.Errorf("import: find this dbx-cred's path for databricks_cli_path: %w; use --via metadata", err)
		}
	}
	for _, it := range items {
		c.importItem(o, file, it, cliPath)
	}
	// The CLI's cache loses the imported entries before the profiles are
	// rewritten: their refresh tokens died with the daemon's proving
	// refresh, and the CLI presenting one again would make the workspace
	// revoke the whole login, the daemon's copy included. A crash after
	// this leaves profiles the CLI reports as logged out, which is safe.
	cacheErr := c.finishOAuthImports(cachePath, items)
	if backup, err = c.rewriteConfig(target, file, backup); err != nil {
		return err
	}
	c.printResults(items, cachePath)
	c.printNextSteps(target, backup, items)
	if cacheErr != nil {
		return cacheErr
	}
	if o.via == "cli" {
		for _, it := range items {
			if it.done {
				c.warnViaCLI()
				break
			}
		}
	}
	return failedErr(items, target.Path)
}

// importItem logs one item in (or resumes its interrupted import) and
// edits its profile in file.
func (c *cli) importItem(o *importOptions, file *databrickscfg.File, it *importItem, cliPath string) {
	if it.resumable && it.err == nil {
		c.resumeOAuthImport(file, it, o.via, cliPath)
		switch {
		case it.resumed && it.err == nil && len(it.keyringKeys) > 0:
			c.dropCLIKeyringItem(it, o.insecure)
		case !it.resumed && len(it.keyringKeys) > 0:
			c.importFromCLIKeyring(file, it, o.via, cliPath, o.insecure)
		}
		if it.done || it.err != nil {
			return
		}
	}
	if it.note != "" || it.err != nil || it.resumed {
		return
	}
	if it.oauthKey != "" {
		it.err = c.importOAuthOne(file, it, o.via, cliPath, o.insecure)
		it.refresh = ""
		return
	}
	key := "token"
	if it.clientID != "" {
		key = "client_secret"
	}
	secret, _ := file.Get(it.name, key)
	it.err = c.importOne(file, it, secret, o.via, cliPath, o.keep, o.static, o.insecure)
}

// rewriteConfig replaces the file with file's edits, or, when nothing
// changed, removes backup, since it would only be one more copy of the
// tokens on disk; it returns the backup that is kept ("" for none).
func (c *cli) rewriteConfig(target *databrickscfg.Target, file *databrickscfg.File, backup string) (string, error) {
	newData := file.Bytes()
	if bytes.Equal(newData, target.Data) {
		os.Remove(backup)
		return "", nil
	}
	tmp, err := target.WriteTemp(newData)
	if err != nil {
		return backup, fmt.Errorf("import: %w; the tokens are in dbx-credd's store and %s is unchanged: run the import again", err, target.Path)
	}
	c.crashAt("after-temp-write")
	if err := target.Commit(tmp); err != nil {
		return backup, fmt.Errorf("import: %w", err)
	}
	c.crashAt("after-rename")
	return backup, nil
}

// warnViaCLI is said wherever dbx-cred writes an auth_type = databricks-cli
// profile: the Databricks CLI itself never runs databricks_cli_path (it
// reads its own login cache), so such a profile works for the SDKs and
// Terraform but breaks the CLI, the tool people run most.
func (c *cli) warnViaCLI() {
	fmt.Fprintln(c.io.Stderr, "WARNING: the Databricks CLI will not use a profile with auth_type = databricks-cli: it reads its own "+
		"login cache and fails with \"cache: no cached credentials\"; only the SDKs and Terraform run databricks_cli_path. "+
		"For a profile the CLI reads, use --via metadata (the default).")
}

// importOne logs one profile in, checks that the daemon serves it, and
// edits its section in file. The edit is made on a copy and kept only when
// all of it succeeds, so a failure leaves the profile's lines as they were.
// token is the profile's token, or for a service principal (it.clientID
// set) its client secret, logged in as OAuth M2M as login --client-id does.
func (c *cli) importOne(file *databrickscfg.File, it *importItem, token, via, cliPath string, keep, static, insecure bool) error {
	if err := cleartextRefused(it.host, insecure); err != nil {
		return err // importPlan checked already; this guards the token itself
	}
	req := &pb.LoginRequest{Profile: it.name, Host: it.host, Token: token, Static: static, InsecureHttp: insecure}
	secretKey := "token"
	if it.clientID != "" {
		// --static is for personal access tokens; an M2M login always
		// serves OAuth access tokens.
		req.Static, req.ClientId = false, it.clientID
		secretKey = "client_secret"
	}
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).Login(ctx, req)
	if err != nil {
		return err
	}
	it.user, it.store = resp.GetProfile().GetUserName(), storeWords(resp.GetProfile())
	return c.pointAtDaemon(file, it, secretKey, via, cliPath, keep)
}

// pointAtDaemon checks that the daemon serves a just imported profile and
// edits its section in file to use the hook (secretKey's line goes unless
// keep; "" for none). The edit is made on a copy and kept only when all of
// it succeeds, so a failure leaves the profile's lines as they were.
func (c *cli) pointAtDaemon(file *databrickscfg.File, it *importItem, secretKey, via, cliPath string, keep bool) error {
	// Read it back: the daemon must list the profile as usable before the
	// token leaves the file.
	list, err := c.listProfiles()
	if err != nil {
		return err
	}
	ok := false
	for _, p := range list {
		if p.GetName() == it.name {
			st := p.GetState()
			ok = st == pb.ProfileState_PROFILE_STATE_READY || st == pb.ProfileState_PROFILE_STATE_STORED
		}
	}
	if !ok {
		return fmt.Errorf("dbx-credd does not list %q as ready after logging it in: see dbx-cred list", it.name)
	}
	value := cliPath
	if via == "metadata" {
		md, err := c.metadataURL(it.name)
		if err != nil {
			return fmt.Errorf("%w (or import with --via cli)", err)
		}
		value = md.GetUrl()
	}
	c.crashAt("after-login")
	if keep {
		secretKey = ""
	}
	// An imported CLI login loses every auth_type = databricks-cli line,
	// not only the one the SDKs read: the CLI itself must not read this
	// profile as its own login any more.
	g, err := file.Repoint(it.name, secretKey, it.oauthKey != "" || it.resumed, hookFor(via), value)
	if err != nil {
		return err
	}
	*file = *g
	it.done = true
	return nil
}

// importPlan lists the chosen profiles with their host and what will be
// done, without any secret.
func importPlan(file *databrickscfg.File, names []string, all, insecure bool, cache *tokenCache) ([]*importItem, error) {
	if all {
		names = nil
		for _, s := range file.Sections() {
			if s != databrickscfg.SettingsSection {
				names = append(names, s)
			}
		}
	}
	var items []*importItem
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if n == databrickscfg.SettingsSection {
			return nil, usageErr("import: [%s] holds settings, not a profile", n)
		}
		if !file.HasSection(n) {
			return nil, usageErr("import: there is no profile [%s] in the file (see dbx-cred import --all --dry-run)", n)
		}
		it := &importItem{name: n}
		it.host, _ = file.Get(n, "host")
		_, it.hasToken = file.Get(n, "token")
		clientID, hasID := file.Get(n, "client_id")
		_, hasSecret := file.Get(n, "client_secret")
		clientID = strings.TrimSpace(clientID)
		switch {
		case it.hasToken && hasSecret:
			it.err = fmt.Errorf("it has both a token and a client_secret: remove the one it should not use from [%s], then import it", n)
		case hasSecret && (!hasID || clientID == ""):
			it.err = fmt.Errorf("it has a client_secret but no client_id: add client_id = <the service principal's application id> to [%s]", n)
		case hasSecret && strings.TrimSpace(it.host) == "":
			it.err = fmt.Errorf("it has a client_secret but no host: add host = <workspace URL> to [%s]", n)
		case hasSecret:
			it.clientID = clientID
			it.err = cleartextRefused(it.host, insecure)
		case !it.hasToken:
			oauthCandidate(file, it, cache)
		case strings.TrimSpace(it.host) == "":
			it.err = fmt.Errorf("it has a token but no host: add host = <workspace URL> to [%s]", n)
		default:
			// This profile fails, in the plan too; the others go ahead.
			it.err = cleartextRefused(it.host, insecure)
		}
		items = append(items, it)
	}
	return items, nil
}

func (c *cli) printPlan(path, cachePath string, items []*importItem, via string, keep bool) {
	fmt.Fprintf(c.io.Stdout, "Plan for %s (dry run: nothing changes, nothing is logged in):\n", path)
	h := hookFor(via)
	authType, key := h.AuthType, h.Key
	value := "<its URL from dbx-credd>"
	if via == "cli" {
		value = "<this dbx-cred>"
		if exe, err := os.Executable(); err == nil {
			value = exe
		}
	}
	tw := tabwriter.NewWriter(c.io.Stdout, 0, 4, 2, ' ', 0)
	for _, it := range items {
		what := ""
		switch {
		case it.err != nil:
			what = "cannot import: " + it.err.Error()
		case it.plan != "":
			what = it.plan
		case it.note != "":
			what = it.note
		case it.oauthKey != "":
			what = fmt.Sprintf("log in to dbx-credd with the refresh token of the Databricks CLI's login %q in %s, then remove that entry from it; ",
				printable(it.oauthKey), printable(cachePath))
			if it.cliAuth {
				what += "drop auth_type = databricks-cli; "
			}
			what += fmt.Sprintf("set auth_type = %s, %s = %s", authType, key, value)
		case it.clientID != "":
			what = "log in to dbx-credd as service principal " + printable(it.clientID) + " (OAuth M2M); "
			if !keep {
				what += "remove client_secret; "
			}
			what += fmt.Sprintf("set auth_type = %s, %s = %s", authType, key, value)
		default:
			what = "log in to dbx-credd; "
			if !keep {
				what += "remove token; "
			}
			what += fmt.Sprintf("set auth_type = %s, %s = %s", authType, key, value)
		}
		fmt.Fprintf(tw, "  [%s]\t%s\t%s\n", printable(it.name), printable(it.host), what)
	}
	tw.Flush()
	fmt.Fprintln(c.io.Stdout, "Run it without --dry-run to do it; the file is backed up first.")
	if via == "cli" {
		c.warnViaCLI()
	}
}

func (c *cli) printResults(items []*importItem, cachePath string) {
	for _, it := range items {
		switch {
		case it.done && it.oauthKey != "":
			fmt.Fprintf(c.io.Stdout, "[%s] imported: %s as %s (oauth-u2m); the refresh token of the Databricks CLI's login %q is in %s.\n",
				printable(it.name), printable(it.host), printable(it.user), printable(it.oauthKey), it.store)
			fmt.Fprintf(c.io.Stdout, "[%s] The CLI's copy of that refresh token in %s is now dead: refresh tokens rotate, and dbx-credd's first refresh superseded it. "+
				"Do not run \"databricks auth login\" for this profile: dbx-cred does not need it, and it would put auth_type = databricks-cli back.\n",
				printable(it.name), printable(cachePath))
		case it.done && it.keyringKey != "":
			fmt.Fprintf(c.io.Stdout, "[%s] imported: %s as %s (oauth-u2m), from the Databricks CLI's OS-keyring item %q, which is deleted; the login is in %s: "+
				"the CLI's refresh token died with dbx-credd's first refresh (refresh tokens rotate). Do not run \"databricks auth login\" for this profile.\n",
				printable(it.name), printable(it.host), printable(it.user), printable(it.keyringKey), it.store)
			if it.advice != "" {
				fmt.Fprintf(c.io.Stderr, "WARNING: [%s] %s\n", printable(it.name), printable(it.advice))
			}
		case it.done && it.resumed:
			fmt.Fprintf(c.io.Stdout, "[%s] imported: an earlier import had already moved this login into dbx-credd (%s as %s, oauth-u2m); the profile now points at it.\n",
				printable(it.name), printable(it.host), printable(it.user))
			if it.advice != "" {
				fmt.Fprintf(c.io.Stderr, "WARNING: [%s] %s\n", printable(it.name), printable(it.advice))
			}
		case it.done && it.clientID != "":
			fmt.Fprintf(c.io.Stdout, "[%s] imported: %s as service principal %s; the client secret is in %s.\n", printable(it.name), printable(it.host), printable(it.user), it.store)
		case it.done:
			fmt.Fprintf(c.io.Stdout, "[%s] imported: %s as %s; the token is in %s.\n", printable(it.name), printable(it.host), printable(it.user), it.store)
		case it.note != "":
			fmt.Fprintf(c.io.Stdout, "[%s] %s.\n", printable(it.name), it.note)
		case it.err != nil:
			fmt.Fprintf(c.io.Stderr, "[%s] NOT imported, left unchanged in the file: %v\n", printable(it.name), printableLines(it.err.Error(), "    "))
		}
	}
}

func (c *cli) printNextSteps(target *databrickscfg.Target, backup string, items []*importItem) {
	path := target.Path
	var done []string
	for _, it := range items {
		if it.done {
			done = append(done, it.name)
		}
	}
	if len(done) == 0 {
		return
	}
	switch {
	case backup != "" && !target.Private():
		// The rewrite made it 0600 (databrickscfg.PrivateMode); say why,
		// as it is a change the user did not ask for.
		fmt.Fprintf(c.io.Stdout, "Rewrote %s, now mode 0600 (it was %04o): the metadata_service_url it holds lets whoever reads it "+
			"get your tokens from dbx-credd wherever the daemon cannot see the caller's uid (macOS, Windows).\n", path, target.Mode)
	case backup != "":
		fmt.Fprintf(c.io.Stdout, "Rewrote %s (mode 0600).\n", path)
	}
	p := quoteArg(done[0])
	keep := "dbx-credd install                        # keep dbx-credd running: the profiles now need it"
	if !serviceManagerHere() {
		keep = "# no service manager here: dbx-cred starts dbx-credd whenever a tool needs it"
	}
	fmt.Fprintf(c.io.Stdout, `
Next steps:
  %s
  dbx-cred list                            # the imported profiles should be ready
  databricks current-user me -p %s       # tools use the rewritten profile as before
`, keep, p)
	if backup != "" {
		fmt.Fprintf(c.io.Stdout, "  rm %s   # once all works\n", quoteArg(backup))
		fmt.Fprintf(c.io.Stderr, "WARNING: the backup %s holds the plaintext tokens of the original file: delete it once the imported profiles work.\n", backup)
	}
	if old := databrickscfg.Backups(path); len(old) > 1 || len(old) == 1 && old[0] != backup {
		fmt.Fprintf(c.io.Stderr, "WARNING: older backups hold plaintext tokens too: %s\n", strings.Join(old, " "))
	}
}

// failedErr is the exit error when some profile failed, nil otherwise.
func failedErr(items []*importItem, path string) error {
	var failed []string
	for _, it := range items {
		if it.err != nil {
			failed = append(failed, it.name)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exitError{code: exitFailure, msg: fmt.Sprintf("%d profile(s) not imported (%s): see above; they are unchanged in %s",
		len(failed), strings.Join(failed, ", "), path)}
}

func (c *cli) listProfiles() ([]*pb.Profile, error) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).ListProfiles(ctx, &pb.ListProfilesRequest{})
	return resp.GetProfiles(), err
}

// configPath is where the SDKs look: --config, $DATABRICKS_CONFIG_FILE (a
// leading ~ is the home directory, as the SDK reads it), ~/.databrickscfg.
// missingConfig says that the file to import does not exist, and where
// the name came from, so the fix is plain.
func missingConfig(path string, fromFlag, fromEnv bool) error {
	switch {
	case fromFlag:
		return usageErr("import: %s does not exist: check the path given to --config", printable(path))
	case fromEnv:
		return usageErr("import: %s does not exist: DATABRICKS_CONFIG_FILE names it; check that variable, or pass --config PATH", printable(path))
	}
	return &exitError{code: exitFailure, msg: fmt.Sprintf("import: %s does not exist, so there is nothing to import: "+
		"pass --config PATH if your Databricks profiles are in another file", printable(path))}
}

func configPath(flagValue string, getenv func(string) string) (string, error) {
	p := flagValue
	if p == "" {
		p = getenv("DATABRICKS_CONFIG_FILE")
	}
	if p == "" {
		p = "~/.databrickscfg"
	}
	if strings.HasPrefix(p, "~") {
		home := getenv("HOME")
		if runtime.GOOS == "windows" && home == "" {
			home = getenv("USERPROFILE")
		}
		if home == "" {
			return "", usageErr("cannot find your home directory for %s: pass --config PATH", p)
		}
		p = filepath.Join(home, p[1:])
	}
	return p, nil
}

// checkVia validates --via.
func checkVia(via string) error {
	if via != "metadata" && via != "cli" {
		return usageErr("--via %q: use metadata (auth_type = metadata-service) or cli (auth_type = databricks-cli)", via)
	}
	return nil
}

// hookFor is the hook --via names.
func hookFor(via string) databrickscfg.Hook {
	if via == "cli" {
		return databrickscfg.CLIHook
	}
	return databrickscfg.MetadataHook
}

// nameList collects repeated -p values; names are taken whole (they may
// hold commas).
type nameList []string

func (n *nameList) String() string { return strings.Join(*n, " ") }

func (n *nameList) Type() string { return "NAME" }

func (n *nameList) Set(v string) error {
	*n = append(*n, v)
	return nil
}
