package profiles

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// Root lifetimes and the automatic replacement schedule.
const (
	// rootRenewBefore: a root is replaced at the latest this long before
	// it expires (or at rootRenewAt of its life, when that comes first).
	rootRenewBefore = 7 * 24 * time.Hour
	// rootRenewAt is the share of a root's life after which it is replaced.
	rootRenewAt = 0.8
	// rootRenewNotBefore is the share of its life a root is kept at
	// least: for a root shorter than rootRenewBefore, "7 days before
	// expiry" is before it was even created, and replacing it at once
	// would replace its successor at once too, for ever.
	rootRenewNotBefore = 0.5
)

// maxLifetimeRE finds the maximum a workspace names when it refuses a
// token's lifetime ("... exceeds the maximum lifetime of 7776000 seconds
// (90 days) set for this workspace."): seconds when it gives them, else days.
var (
	maxSecondsRE = regexp.MustCompile(`(?i)maximum[^0-9]{0,40}?(\d+)\s*seconds?`)
	maxDaysRE    = regexp.MustCompile(`(?i)maximum[^0-9]{0,40}?(\d+)\s*days?`)
)

// maxLifetimeFrom returns the maximum lifetime err's refusal names, when err
// is a workspace's refusal of a token for its lifetime (400
// INVALID_PARAMETER_VALUE naming a maximum); 0 otherwise.
func maxLifetimeFrom(err error) time.Duration {
	var ae *workspace.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "INVALID_PARAMETER_VALUE" {
		return 0
	}
	if m := maxSecondsRE.FindStringSubmatch(ae.Message); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 && n < int64(1<<62/time.Second) {
			return time.Duration(n) * time.Second
		}
	}
	if m := maxDaysRE.FindStringSubmatch(ae.Message); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 && n < 100000 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	return 0
}

// createRoot creates a long-lived token of lifetime with api. A workspace
// whose admins set a lower maximum refuses it, naming the maximum: the
// create is then retried once within it, so the root gets the longest
// life the workspace allows instead of failing.
func createRoot(ctx context.Context, api *workspace.TokenAPI, lifetime time.Duration, comment string) (workspace.NewToken, error) {
	nt, err := api.Create(ctx, lifetime, comment, nil)
	if err == nil {
		return nt, nil
	}
	if limit := maxLifetimeFrom(err); limit > 0 && limit < lifetime {
		return api.Create(ctx, limit, comment, nil)
	}
	return nt, err
}

// rootLifetime is the life p's next root asks for: its current root's, when
// dbx-cred created that one, else RootLifetime.
func rootLifetime(p registry.Profile) time.Duration {
	if p.RootExpiry.IsZero() || p.RootCreated.IsZero() || !p.RootExpiry.After(p.RootCreated) {
		return RootLifetime
	}
	// Whole seconds: the Token API takes lifetime_seconds.
	return p.RootExpiry.Sub(p.RootCreated).Round(time.Second)
}

// rootDue is when p's root is to be replaced: at rootRenewAt of its life or
// rootRenewBefore its expiry, whichever comes first, but not before
// rootRenewNotBefore of its life. Zero when p has no root dbx-cred created.
func rootDue(p registry.Profile) time.Time {
	if p.RootID == "" || p.RootExpiry.IsZero() {
		return time.Time{}
	}
	life := rootLifetime(p)
	created := p.RootExpiry.Add(-life)
	due := created.Add(time.Duration(rootRenewAt * float64(life)))
	if d := p.RootExpiry.Add(-rootRenewBefore); d.Before(due) {
		due = d
	}
	if floor := created.Add(time.Duration(rootRenewNotBefore * float64(life))); due.Before(floor) {
		due = floor
	}
	return due
}
