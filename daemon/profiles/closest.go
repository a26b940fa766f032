package profiles

import (
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/editdist"
)

// closest is the known name a mistyped one most likely meant ("dve" for
// "dev", "Prod" for "prod"): the nearest by edit distance, case aside,
// when that is at most a third of its length (at least 1) and no other
// name is as near; else "".
func closest(name string, known []string) string {
	best, bestD, tie := "", max(1, len(name)/3)+1, false
	for _, k := range known {
		d := editdist.Distance(strings.ToLower(name), strings.ToLower(k))
		switch {
		case d < bestD:
			best, bestD, tie = k, d, false
		case d == bestD && best != "":
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}
