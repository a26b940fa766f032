package helper

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Error messages often quote the daemon or the workspace: they reach the
// terminal without escapes or bidi overrides, their lines kept.
func TestFinishNeutralisesMessages(t *testing.T) {
	for _, err := range []error{
		&exitError{code: exitRejected, msg: "workspace says: \x1b[2Jgone\u202e\nsecond line"},
		errors.New("workspace says: \x1b[2Jgone\u202e\nsecond line"),
	} {
		var errb bytes.Buffer
		c := &cli{io: IO{Stderr: &errb}}
		c.finish(err)
		if got, want := errb.String(), "dbx-cred: workspace says: ?[2Jgone?\nsecond line\n"; got != want {
			t.Errorf("finish(%T) printed %q, want %q", err, got, want)
		}
	}
}

func TestDidYouMeanCountsASwapAsOneEdit(t *testing.T) {
	for typed, want := range map[string]string{"tokne": "token", "lsit": "list", "statu": "status", "xyzzy": ""} {
		got := didYouMean(typed, []string{"token", "list", "status", "logout"})
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("didYouMean(%q) = %q, want %q", typed, got, want)
		}
	}
}

// A message of several lines (a daemon's list of fixes) keeps its lines,
// each made safe on its own.
func TestPrintableLinesKeepsLines(t *testing.T) {
	got := printableLines("no store is usable:\n  os  the OS keyring\n  file  \x1b[31mred\n", "    ")
	want := "no store is usable:\n      os  the OS keyring\n      file  ?[31mred"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
