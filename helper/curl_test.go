package helper

import (
	"strings"
	"testing"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

func TestCurlConfigAndNetrc(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", nil)
	f.add("local", "http://127.0.0.1:8080", "dapiLOCAL", nil)
	f.add("v6", "http://[::1]:8080", "dapiV6", nil)
	f.add("odd", "https://h", `a\b"c`, nil)
	f.add("nl", "https://h2", "a\nurl = http://evil", nil)

	cases := []struct{ cmd, profile, want string }{
		{"curl-config", "prod", "header = \"Authorization: Bearer dapiPROD\"\n"},
		{"curl-config", "odd", `header = "Authorization: Bearer a\\b\"c"` + "\n"},
		{"netrc", "prod", "machine adb-1.azuredatabricks.net login token password dapiPROD\n"},
		// curl matches netrc on the host name alone, never the port.
		{"netrc", "local", "machine 127.0.0.1 login token password dapiLOCAL\n"},
		{"netrc", "v6", "machine ::1 login token password dapiV6\n"},
	}
	for _, c := range cases {
		out, errOut, code := f.run("", nil, c.cmd, "-p", c.profile)
		if code != 0 || out != c.want {
			t.Errorf("%s -p %s: %d %q %q, want %q", c.cmd, c.profile, code, out, errOut, c.want)
		}
	}
	// Values that would break out of the format are refused, and the
	// message does not quote them.
	for _, c := range [][]string{{"curl-config", "-p", "nl"}, {"netrc", "-p", "nl"}, {"netrc", "-p", "odd"}} {
		out, errOut, code := f.run("", nil, c...)
		if code == 0 || out != "" || strings.Contains(errOut, "evil") || strings.Contains(errOut, `a\b`) {
			t.Errorf("%v: %d %q %q", c, code, out, errOut)
		}
	}
	for _, r := range f.requests() {
		if r.GetChannel() != pb.Channel_CHANNEL_CURL {
			t.Fatalf("request %v: want the curl channel", r)
		}
	}
}

func TestEveryNewCommandTeachesByExample(t *testing.T) {
	f := newFakeDaemon(t)
	for cmd, want := range map[string]string{
		"exec":        "dbx-cred exec -p prod -- ",
		"git":         "git config --global credential.helper dbx-cred",
		"curl-config": "curl -K <(dbx-cred curl-config -p prod)",
		"netrc":       "curl --netrc-file <(dbx-cred netrc -p prod)",
		"env":         "--mode metadata",
	} {
		// Help that was asked for goes to stdout, as in gh and git.
		out, _, code := f.run("", nil, cmd, "--help")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("%s --help: %d, lacks %q:\n%s", cmd, code, want, out)
		}
	}
	errOut, _, code := f.run("", nil, "auth", "token", "--help")
	if code != 0 || !strings.Contains(errOut, "dbx-cred auth token -p prod") || !strings.Contains(errOut, "--force-refresh") {
		t.Errorf("auth token --help: %d %q", code, errOut)
	}
	errOut, _, _ = f.run("", nil, "auth", "--help")
	if !strings.Contains(errOut, "databricks_cli_path = ") {
		t.Errorf("auth --help: %q", errOut)
	}
}
