package envfmt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostile are values an attacker might plant in a host or profile name.
var hostile = []string{
	"plain",
	"",
	"it's",
	`"double" and \backslash\ and \'`,
	"$(touch PWNED)",
	"`touch PWNED`",
	"${HOME}$HOME%PATH%",
	"a; touch PWNED; b",
	"line1\nline2\ntouch PWNED",
	"'; touch PWNED; echo '",
	`\'; touch PWNED; echo \'`,
	"tab\there | & < > * ? [a] ~ # !x",
	"unicode: ünï ‘quoted’ ‚low‛",
	"$(echo ‘); touch PWNED; echo ’)",
	"\x1b[31mred\x1b[0m",
}

func TestRealShells(t *testing.T) {
	shells := []struct {
		bin   string
		sh    Shell
		print string // prints $V with no interpretation
	}{
		{"bash", POSIX, `printf '%s' "$V"`},
		{"zsh", POSIX, `printf '%s' "$V"`},
		{"sh", POSIX, `printf '%s' "$V"`},
		{"fish", Fish, `printf '%s' "$V"`},
	}
	for _, s := range shells {
		path, err := exec.LookPath(s.bin)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; make test installs it", s.bin)
			}
			t.Logf("skipping %s: not installed", s.bin)
			continue
		}
		for _, v := range hostile {
			dir := t.TempDir()
			out, err := Export(s.sh, []Var{{"V", v}})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(path, "-c", out+s.print)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s: %v: %s\nscript:\n%s", s.bin, err, got, out)
				continue
			}
			if string(got) != v {
				t.Errorf("%s: value %q came back as %q", s.bin, v, got)
			}
			if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
				t.Errorf("%s: value %q ran code", s.bin, v)
			}
		}
	}
}

func TestUnsetInRealShells(t *testing.T) {
	for _, bin := range []string{"bash", "fish"} {
		path, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		sh, _ := ParseShell(bin)
		set, _ := Export(sh, []Var{{"A", "1"}, {"B", "2"}})
		unset, _ := Unset(sh, []string{"A", "B"})
		got, err := exec.Command(path, "-c", set+unset+`printf '%s' "$A$B"`).CombinedOutput()
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %q %v", bin, got, err)
		}
	}
}

func TestPowerShellQuoting(t *testing.T) {
	got, _ := Export(PowerShell, []Var{{"V", "a'b‘c’d"}})
	if want := "$Env:V = 'a''b‘‘c’’d'\n"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestRejects(t *testing.T) {
	if _, err := Export(POSIX, []Var{{"V", "a\x00b"}}); err == nil {
		t.Error("NUL accepted")
	}
	if _, err := Export(POSIX, []Var{{"A B", "x"}}); err == nil {
		t.Error("bad name accepted")
	}
	if _, err := ParseShell("tcsh"); err == nil || !strings.Contains(err.Error(), "fish") {
		t.Errorf("ParseShell(tcsh) = %v", err)
	}
}
