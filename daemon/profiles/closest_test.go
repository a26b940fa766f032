package profiles

import (
	"context"
	"strings"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

func TestClosestName(t *testing.T) {
	known := []string{"DEFAULT", "dev", "prod", "staging"}
	for name, want := range map[string]string{
		"dve": "dev", "Prod": "prod", "prd": "prod", "stagign": "staging", "default": "DEFAULT",
		"qa": "", "production-eu": "", "de": "dev",
	} {
		if got := closest(name, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", name, got, want)
		}
	}
	if got := closest("dex", []string{"dev", "dew"}); got != "" {
		t.Errorf("a tie names one: %q", got)
	}
}

// A mistyped profile gets a did-you-mean, besides the list.
func TestUnknownProfileSuggestsTheNearestName(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, store.NewMemory())
	for _, n := range []string{"dev", "prod"} {
		if _, _, err := m.Login(ctx, n, "https://"+n+".example.com", "dapi-good", static); err != nil {
			t.Fatal(err)
		}
	}
	_, err := m.Token(ctx, TokenRequest{Profile: "dve"})
	if err == nil || !strings.Contains(err.Error(), `did you mean "dev"?`) || !strings.Contains(err.Error(), "dev, prod") {
		t.Fatalf("err = %v", err)
	}
}
