package manpage

import (
	"os/exec"
	"strings"
	"testing"
)

func TestPageRendersHelpVerbatim(t *testing.T) {
	var b strings.Builder
	p := Page{Name: "dbx-cred", Summary: "Databricks tokens without plaintext", Version: "1.0",
		Sections: []Section{{Title: "DESCRIPTION", Body: "Usage:\n  dbx-cred token -p prod\n.not a request\n'nor this\na \\ backslash"},
			{Title: "COMMANDS", Sub: []Section{{Title: "token", Body: "prints a token"}}}}}
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{".TH DBX-CRED 1", ".SH NAME\ndbx\\-cred \\- Databricks", "\\&.not a request", "\\&'nor this", "a \\e backslash", ".SS token"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q:\n%s", want, out)
		}
	}
	// Rendered by the real man(1), when this machine has it.
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww")
	cmd.Stdin = strings.NewReader(out)
	res, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(res), ".not a request") || !strings.Contains(string(res), "a \\ backslash") {
		t.Fatalf("groff: %v\n%s", err, res)
	}
}
