package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// A workspace can name its users anything. A name carrying terminal escapes
// (an OSC that retitles the window, a screen clear) and a bidi override
// reaches the terminal with those replaced, in every human-readable
// output; --json keeps the exact name, escaped as JSON escapes it.
func TestHostileUserNameIsNeutralisedOnTheTerminal(t *testing.T) {
	w := newWorld(t)
	hostile := "mallory\x1b]0;pwned\x07\x1b[2J\u202egro.elpmaxe@ecila"
	pat := w.emu.AddUser(hostile)
	w.startDaemon()
	out := w.mustHelper(pat+"\n", "login", "-p", "evil", "--host", w.srv.URL)
	list := w.mustHelper("", "list")
	for name, text := range map[string]string{"login": out, "list": list} {
		if strings.ContainsAny(text, "\x1b\x07\u202e") {
			t.Errorf("%s printed control characters: %q", name, text)
		}
		if !strings.Contains(text, "mallory?]0;pwned??[2J?gro.elpmaxe@ecila") {
			t.Errorf("%s does not show the neutralised name: %q", name, text)
		}
	}
	var profiles []struct {
		UserName string `json:"user_name"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "list", "--json")), &profiles); err != nil {
		t.Fatal(err)
	}
	if len(profiles) != 1 || profiles[0].UserName != hostile {
		t.Errorf("list --json: %+v, want the exact user name %q", profiles, hostile)
	}
}
