package helper

import (
	"bytes"
	"strings"
	"testing"
)

// git runs "git-credential-dbx-cred" for credential.helper dbx-cred, by
// whatever path and, on Windows, with ".exe" and either separator.
func TestMainNamedAnswersAsGitUnderGitsName(t *testing.T) {
	for argv0, want := range map[string]string{
		"git-credential-dbx-cred":                    gitHelperName,
		"/home/u/.local/bin/git-credential-dbx-cred": gitHelperName,
		`C:\Users\u\bin\git-credential-dbx-cred.exe`: gitHelperName,
		"C:/Users/u/bin/GIT-CREDENTIAL-DBX-CRED.EXE": "GIT-CREDENTIAL-DBX-CRED",
		"/usr/local/bin/dbx-cred":                    "dbx-cred",
		"dbx-cred.exe":                               "dbx-cred",
		"/opt/git-credential-dbx-cred-old/dbx-cred":  "dbx-cred",
	} {
		if got := programName(argv0); got != want {
			t.Errorf("programName(%q) = %q, want %q", argv0, got, want)
		}
	}
	run := func(argv0 string, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := MainNamed(argv0, args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdinFd: -1,
			Getenv: func(string) string { return "" }})
		return out.String() + errb.String(), code
	}
	// As git's helper, the words are git's: no action is git's usage error.
	if out, code := run("/x/git-credential-dbx-cred"); code != exitUsage || !strings.HasPrefix(out, "dbx-cred git: no action") {
		t.Errorf("git-credential-dbx-cred without an action: %d %q", code, out)
	}
	// An operation git does not know is ignored, as git-credential(1) asks.
	if out, code := run("/x/git-credential-dbx-cred", "-p", "prod", "frobnicate"); code != 0 || out != "" {
		t.Errorf("git-credential-dbx-cred -p prod frobnicate: %d %q", code, out)
	}
	if out, code := run("/x/dbx-cred", "--version"); code != 0 || !strings.HasPrefix(out, "dbx-cred ") {
		t.Errorf("dbx-cred --version: %d %q", code, out)
	}
}
