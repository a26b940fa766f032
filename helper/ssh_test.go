package helper

import (
	"slices"
	"testing"
)

// splitSSHArgs finds the host as ssh does: options that take a value
// consume the next word (or their own rest), "--" ends them.
func TestSplitSSHArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		opts    []string
		dest    string
		command []string
	}{
		{[]string{"devbox"}, nil, "devbox", []string{}},
		{[]string{"-p", "2222", "me@devbox", "ls", "-l"}, []string{"-p", "2222"}, "me@devbox", []string{"ls", "-l"}},
		{[]string{"-p2222", "-A", "devbox"}, []string{"-p2222", "-A"}, "devbox", []string{}},
		{[]string{"-Ai", "key", "-o", "User=me", "devbox", "uptime"}, []string{"-Ai", "key", "-o", "User=me"}, "devbox", []string{"uptime"}},
		{[]string{"-J", "jump", "--", "devbox", "-p"}, []string{"-J", "jump"}, "devbox", []string{"-p"}},
	} {
		opts, dest, cmd, err := splitSSHArgs(tc.args)
		if err != nil || dest != tc.dest || !slices.Equal(opts, tc.opts) || !slices.Equal(cmd, tc.command) {
			t.Errorf("splitSSHArgs(%q) = %q, %q, %q, %v", tc.args, opts, dest, cmd, err)
		}
	}
	for _, args := range [][]string{{}, {"-p"}, {"-A", "-p", "22"}, {"--"}} {
		if _, _, _, err := splitSSHArgs(args); err == nil {
			t.Errorf("splitSSHArgs(%q): no error", args)
		}
	}
}

func TestSSHLabel(t *testing.T) {
	if got := sshLabel("me@dev box:22"); got != "ssh:me@dev_box:22" {
		t.Errorf("sshLabel = %q", got)
	}
}
