//go:build unix

package helper

import (
	"bufio"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

func environMap(out []byte) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestExecSetsProfileVarsAndScrubsInheritedCredentials(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://ws.example.com", "dapiPROD", &pb.GetTokenResponse{Expiry: timestamppb.Now()})
	cmd := f.helperCommand(t, "exec", "-p", "prod", "--", "env", "-0")
	cmd.Env = append(cmd.Env, "DATABRICKS_TOKEN=stale", "DATABRICKS_CLIENT_SECRET=sp-secret", "DATABRICKS_CLIENT_ID=sp",
		"DATABRICKS_CONFIG_PROFILE=other", "DATABRICKS_AUTH_TYPE=oauth-m2m", "DATABRICKS_CLI_PATH=/x",
		"DATABRICKS_METADATA_SERVICE_URL=http://127.0.0.1:1/old", "DATABRICKS_PASSWORD=pw", "DATABRICKS_USERNAME=u",
		"DATABRICKS_CLUSTER_ID=keep-me", "ARM_CLIENT_SECRET=keep-too")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	env := environMap(out)
	want := map[string]string{"DATABRICKS_HOST": "https://ws.example.com", "DATABRICKS_TOKEN": "dapiPROD",
		"DATABRICKS_AUTH_TYPE": "pat", "DATABRICKS_CLUSTER_ID": "keep-me", "ARM_CLIENT_SECRET": "keep-too"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"DATABRICKS_CLIENT_SECRET", "DATABRICKS_CLIENT_ID", "DATABRICKS_CONFIG_PROFILE",
		"DATABRICKS_CLI_PATH", "DATABRICKS_METADATA_SERVICE_URL", "DATABRICKS_PASSWORD", "DATABRICKS_USERNAME"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s leaked into the command: %q", k, v)
		}
	}
	if r := f.requests(); len(r) != 1 || r[0].GetChannel() != pb.Channel_CHANNEL_EXEC || r[0].GetProfile() != "prod" {
		t.Fatalf("requests: %v", r)
	}
}

func TestExecMetadataModePutsNoTokenInTheEnvironment(t *testing.T) {
	f := newFakeDaemon(t)
	md := &pb.MetadataURLResponse{Url: "http://127.0.0.1:8471/p/abc", Host: "https://ws.example.com"}
	f.with(func(f *fakeDaemon) { f.metadata = md })
	cmd := f.helperCommand(t, "exec", "-p", "prod", "--mode", "metadata", "--", "env", "-0")
	cmd.Env = append(cmd.Env, "DATABRICKS_TOKEN=stale")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	env := environMap(out)
	if env["DATABRICKS_AUTH_TYPE"] != "metadata-service" || env["DATABRICKS_METADATA_SERVICE_URL"] != md.Url ||
		env["DATABRICKS_HOST"] != "https://ws.example.com" {
		t.Fatalf("env: %v", env)
	}
	if _, ok := env["DATABRICKS_TOKEN"]; ok {
		t.Fatal("DATABRICKS_TOKEN is set in metadata mode")
	}
}

func TestExecPassesStatusSignalsAndStdio(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://ws.example.com", "dapiPROD", nil)

	// The exit status is the command's.
	err := f.helperCommand(t, "exec", "-p", "prod", "--", "sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit 7 became %v", err)
	}
	// Killed by a signal: the parent sees the signal, as with the command run
	// directly (a shell reports 128+15).
	err = f.helperCommand(t, "exec", "-p", "prod", "--", "sh", "-c", "kill -TERM $$").Run()
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("kill -TERM became %v", err)
	}
	// A signal sent to dbx-cred's pid reaches the command (it is the same
	// process after execve); stdin and stdout are the command's own.
	cmd := f.helperCommand(t, "exec", "-p", "prod", "--", "sh", "-c",
		`trap 'echo "got INT"; exit 42' INT; read line; echo "read $line"; echo $$; while :; do sleep 0.05; done`)
	cmd.Stdin = strings.NewReader("hello\n")
	pipe, _ := cmd.StdoutPipe()
	stdout := bufio.NewReader(pipe)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := stdout.ReadString('\n'); err != nil || line != "read hello\n" {
		t.Fatalf("stdin did not reach the command: %q %v", line, err)
	}
	if line, err := stdout.ReadString('\n'); err != nil || line != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Fatalf("the command runs as pid %q, dbx-cred was %d: not exec'd (%v)", line, cmd.Process.Pid, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	if !errors.As(err, &ee) || ee.ExitCode() != 42 || string(rest) != "got INT\n" {
		t.Fatalf("SIGINT: %v, output %q", err, rest)
	}
}

func TestExecUsageAndMissingCommand(t *testing.T) {
	f := newFakeDaemon(t)
	f.add("prod", "https://ws.example.com", "dapiPROD", nil)
	if _, errOut, code := f.run("", nil, "exec", "-p", "prod"); code != exitUsage || !strings.Contains(errOut, "no command") {
		t.Fatalf("no command: %d %q", code, errOut)
	}
	if _, errOut, code := f.run("", nil, "exec", "-p", "prod", "--mode", "bogus", "--", "true"); code != exitUsage || !strings.Contains(errOut, "metadata") {
		t.Fatalf("bad mode: %d %q", code, errOut)
	}
	if _, errOut, code := f.run("", nil, "exec", "-p", "prod", "--", "no-such-command-dbx"); code != 127 || !strings.Contains(errOut, "no-such-command-dbx") {
		t.Fatalf("missing command: %d %q", code, errOut)
	}
	if len(f.requests()) != 0 {
		t.Fatal("a token was fetched for a command that cannot run")
	}
}
