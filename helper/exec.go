package helper

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const execHelp = `
Runs COMMAND with the profile's Databricks variables set, and nothing else
changed: stdin, stdout, stderr, signals and the exit status are COMMAND's own.

  dbx-cred exec -p prod -- databricks current-user me
  dbx-cred exec -p prod -- terraform apply
  dbx-cred exec -p prod --mode metadata -- python job.py   # no token in its environment

--mode token (the default) sets DATABRICKS_HOST, DATABRICKS_TOKEN and
DATABRICKS_AUTH_TYPE=pat. --mode metadata sets DATABRICKS_HOST,
DATABRICKS_AUTH_TYPE=metadata-service and DATABRICKS_METADATA_SERVICE_URL;
the SDKs fetch and refresh the token from the daemon themselves.

Databricks credential variables inherited from this shell (DATABRICKS_TOKEN,
DATABRICKS_CLIENT_ID/SECRET, DATABRICKS_USERNAME/PASSWORD,
DATABRICKS_CONFIG_PROFILE, DATABRICKS_CLI_PATH...) are removed first, so
they cannot conflict with the profile's.

Exit status:
  COMMAND's own, once it runs
  126  COMMAND cannot run (permission denied, not executable)
  127  COMMAND is not found
  1-6, 64  as for the other commands, before COMMAND starts (dbx-cred help)`

// inheritedAuthVars are the Databricks variables that name a workspace or a
// credential (the SDK's "auth" attributes and the ones that pick them). Left
// in place they would conflict with, or silently override, the profile's.
// Non-Databricks credentials (ARM_*, GOOGLE_CREDENTIALS) stay: COMMAND may
// need them for other providers, and DATABRICKS_AUTH_TYPE, which exec always
// sets, keeps the SDK from weighing them.
func inheritedAuthVars() []string {
	return []string{
		"DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_AUTH_TYPE",
		"DATABRICKS_USERNAME", "DATABRICKS_PASSWORD",
		"DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
		"DATABRICKS_CONFIG_PROFILE", "DATABRICKS_METADATA_SERVICE_URL", "DATABRICKS_CLI_PATH",
		"DATABRICKS_ACCOUNT_ID", "DATABRICKS_WORKSPACE_ID",
		"DATABRICKS_AZURE_RESOURCE_ID", "DATABRICKS_AZURE_LOGIN_APP_ID",
		"DATABRICKS_GOOGLE_SERVICE_ACCOUNT",
		"DATABRICKS_OIDC_TOKEN_FILEPATH", "DATABRICKS_OIDC_TOKEN_ENV", "DATABRICKS_TOKEN_AUDIENCE",
	}
}

func runExec(c *cli, args []string) error {
	fs := c.flags("exec", "[-p NAME] [--mode token|metadata] -- COMMAND [ARGS...]", execHelp)
	profile := c.profileFlag(fs)
	mode := fs.String("mode", modeToken, modeUsage())
	// Not parse(): the positional arguments are the command. Parsing stops at
	// "--" or at the first word that is not a flag, so COMMAND's own flags
	// are never taken for ours.
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return usageErr("exec: no command given, e.g. dbx-cred exec -p prod -- databricks current-user me")
	}
	if err := checkMode(*mode); err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		code := 127
		if !errors.Is(err, exec.ErrNotFound) {
			code = 126
		}
		return &exitError{code: code, msg: "exec: " + lookPathReason(argv[0], err)}
	}
	vars, err := c.clientVars(*profile, *mode, pb.Channel_CHANNEL_EXEC)
	if err != nil {
		return err
	}
	// The real environment, not c.io: exec hands the process itself over
	// to COMMAND, which only makes sense for the real process.
	return runCommand(path, argv, childEnv(os.Environ(), vars))
}

// lookPathReason says why COMMAND cannot run in the words of a shell
// ("nosuchcmd: not found"), not Go's (exec: "nosuchcmd": executable file
// not found in $PATH).
func lookPathReason(name string, err error) string {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return name + ": not found"
	case errors.Is(err, os.ErrPermission):
		return name + ": permission denied"
	}
	return name + ": " + err.Error()
}

// childEnv is parent without any inherited Databricks credential and without
// the variables vars clears, plus vars' own settings.
func childEnv(parent []string, vars clientEnv) []string {
	drop := append(inheritedAuthVars(), vars.unset...)
	for _, v := range vars.set {
		drop = append(drop, v.Name)
	}
	out := make([]string, 0, len(parent)+len(vars.set))
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		if !containsName(drop, name) {
			out = append(out, kv)
		}
	}
	for _, v := range vars.set {
		out = append(out, v.Name+"="+v.Value)
	}
	return out
}

// containsName compares as the OS does: Windows variable names ignore case.
func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n || runtime.GOOS == "windows" && strings.EqualFold(x, n) {
			return true
		}
	}
	return false
}
