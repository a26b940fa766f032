package helper

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

func TestGitGetAnswersForTheMatchingHost(t *testing.T) {
	f := newFakeDaemon(t)
	exp := time.Unix(1893456000, 0)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", &pb.GetTokenResponse{Expiry: timestamppb.New(exp)})
	f.add("dev", "http://127.0.0.1:8080", "dapiDEV", nil)

	// Host case and a default port are normalised before matching.
	out, errOut, code := f.run("protocol=https\nhost=ADB-1.azuredatabricks.net:443\npath=Repos/x.git\ncapability[]=authtype\n\n", nil, "git", "get")
	if code != 0 || out != "username=token\npassword=dapiPROD\npassword_expiry_utc=1893456000\n" {
		t.Fatalf("get prod: %d %q %q", code, out, errOut)
	}
	// A token without expiry gets no password_expiry_utc line.
	out, _, code = f.run("protocol=http\nhost=127.0.0.1:8080\n", nil, "git", "get")
	if code != 0 || out != "username=token\npassword=dapiDEV\n" {
		t.Fatalf("get dev: %d %q", code, out)
	}
	for _, r := range f.requests() {
		if r.GetChannel() != pb.Channel_CHANNEL_GIT || r.GetProfile() != "" {
			t.Fatalf("request %v: want host lookup on the git channel", r)
		}
	}
	if r := f.requests(); r[0].GetHost() != "https://adb-1.azuredatabricks.net" || r[1].GetHost() != "http://127.0.0.1:8080" {
		t.Fatalf("hosts asked: %v", r)
	}
}

func TestGitStaysSilentWhenNotItsHost(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", nil)
	for name, in := range map[string]string{
		"unknown host":      "protocol=https\nhost=github.com\n",
		"ssh":               "protocol=ssh\nhost=adb-1.azuredatabricks.net\n",
		"no protocol":       "host=adb-1.azuredatabricks.net\n",
		"invalid host":      "protocol=https\nhost=a b/c\n",
		"wrong scheme port": "protocol=http\nhost=adb-1.azuredatabricks.net\n",
	} {
		out, errOut, code := f.run(in, nil, "git", "get")
		if code != 0 || out != "" || errOut != "" {
			t.Errorf("%s: %d %q %q, want silence and exit 0", name, code, out, errOut)
		}
	}
	// Operations git may add later are ignored, as git-credential(1) asks.
	if out, _, code := f.run("protocol=https\nhost=adb-1.azuredatabricks.net\n", nil, "git", "frobnicate"); code != 0 || out != "" {
		t.Errorf("unknown action: %d %q", code, out)
	}
}

func TestGitMalformedInputFailsWithNothingOnStdout(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", nil)
	out, errOut, code := f.run("protocol=https\nhost=adb-1.azuredatabricks.net\ngarbage line\n", nil, "git", "get")
	if code == 0 || out != "" || !strings.Contains(errOut, "not key=value") || strings.Contains(errOut, "garbage") {
		t.Fatalf("malformed: %d %q %q", code, out, errOut)
	}
	if len(f.requests()) != 0 {
		t.Fatal("a token was fetched for malformed input")
	}
	if _, errOut, code := f.run("", nil, "git"); code != exitUsage || !strings.Contains(errOut, "credential.helper") {
		t.Fatalf("no action: %d %q", code, errOut)
	}
}

func TestGitProfileFlagOverridesHost(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", nil)
	// A mirror that is not the workspace host, configured per URL with -p;
	// flags work before or after the action.
	for _, args := range [][]string{{"git", "-p", "prod", "get"}, {"git", "get", "--profile", "prod"}} {
		out, errOut, code := f.run("protocol=https\nhost=git.example.com\n", nil, args...)
		if code != 0 || out != "username=token\npassword=dapiPROD\n" {
			t.Fatalf("%v: %d %q %q", args, code, out, errOut)
		}
	}
	// With -p, an unknown profile is an error the user must see.
	if out, errOut, code := f.run("protocol=https\nhost=git.example.com\n", nil, "git", "-p", "nope", "get"); code != exitNoProfile || out != "" {
		t.Fatalf("unknown -p: %d %q %q", code, out, errOut)
	}
}

func TestGitStoreWritesNothingAndEraseReportsRejection(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", nil)
	in := "protocol=https\nhost=adb-1.azuredatabricks.net\nusername=token\npassword=dapiPROD\n\n"
	if out, errOut, code := f.run(in, nil, "git", "store"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("store: %d %q %q", code, out, errOut)
	}
	// A daemon without ReportRejected: erase is quietly a no-op.
	if out, errOut, code := f.run(in, nil, "git", "erase"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("erase, old daemon: %d %q %q", code, out, errOut)
	}
	f.with(func(f *fakeDaemon) { f.rejects = true })
	if out, errOut, code := f.run(in, nil, "git", "erase"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("erase: %d %q %q", code, out, errOut)
	}
	if len(f.reports()) != 1 || f.reports()[0].GetHost() != "https://adb-1.azuredatabricks.net" || f.reports()[0].GetAccessToken() != "dapiPROD" {
		t.Fatalf("ReportRejected: %v", f.reports())
	}
	if len(f.requests()) != 0 {
		t.Fatal("store or erase fetched a token")
	}
}
