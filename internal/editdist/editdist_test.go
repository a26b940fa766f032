package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"token", "token", 0}, {"tokne", "token", 1}, {"dve", "dev", 1}, {"prd", "prod", 1}, {"", "abc", 3}, {"équipe", "equipe", 1}} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
