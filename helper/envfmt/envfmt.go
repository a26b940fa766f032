// Package envfmt writes environment assignments in a shell's own syntax,
// quoted so that no value (a host, a profile name, a token) can run code when
// the output is evaluated: eval "$(dbx-cred env)".
package envfmt

import (
	"fmt"
	"strings"
)

// Shell is a target syntax.
type Shell string

// The shells dbx-cred writes for.
const (
	POSIX      Shell = "sh" // also bash and zsh
	Fish       Shell = "fish"
	PowerShell Shell = "powershell"
)

// Shells lists the accepted --shell values.
const Shells = "sh, bash, zsh, fish, powershell"

// ParseShell maps a --shell value to its syntax.
func ParseShell(s string) (Shell, error) {
	switch strings.ToLower(s) {
	case "", "sh", "bash", "zsh", "posix", "ksh", "dash":
		return POSIX, nil
	case "fish":
		return Fish, nil
	case "powershell", "pwsh":
		return PowerShell, nil
	}
	return "", fmt.Errorf("unknown shell %q: use one of %s", s, Shells)
}

// Var is one assignment.
type Var struct{ Name, Value string }

// Export renders vars as lines that set and export them.
func Export(sh Shell, vars []Var) (string, error) {
	var b strings.Builder
	for _, v := range vars {
		if err := checkName(v.Name); err != nil {
			return "", err
		}
		if strings.ContainsRune(v.Value, 0) {
			return "", fmt.Errorf("the value of %s contains a NUL byte, which no shell can hold", v.Name)
		}
		switch sh {
		case Fish:
			fmt.Fprintf(&b, "set -gx %s %s;\n", v.Name, quoteFish(v.Value))
		case PowerShell:
			fmt.Fprintf(&b, "$Env:%s = %s\n", v.Name, quotePowerShell(v.Value))
		default:
			fmt.Fprintf(&b, "export %s=%s\n", v.Name, quotePOSIX(v.Value))
		}
	}
	return b.String(), nil
}

// Unset renders lines that remove names from the environment.
func Unset(sh Shell, names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		if err := checkName(n); err != nil {
			return "", err
		}
		switch sh {
		case Fish:
			fmt.Fprintf(&b, "set -e %s;\n", n)
		case PowerShell:
			fmt.Fprintf(&b, "Remove-Item Env:%s -ErrorAction SilentlyContinue\n", n)
		default:
			fmt.Fprintf(&b, "unset %s\n", n)
		}
	}
	return b.String(), nil
}

// checkName keeps names to the portable set; names are ours, so a failure is
// a bug, not user input.
func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("empty variable name")
	}
	for i, c := range n {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("invalid variable name %q", n)
		}
	}
	return nil
}

// quotePOSIX single-quotes s: nothing is special inside single quotes except
// the quote itself, which is closed, escaped and reopened.
func quotePOSIX(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteFish single-quotes s; inside them fish treats only \ and ' specially.
func quoteFish(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// quotePowerShell single-quotes s. PowerShell also takes the typographic
// single quotes U+2018..U+201B as quote characters; each is doubled like '.
func quotePowerShell(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}
