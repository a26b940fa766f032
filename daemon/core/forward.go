package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Scope is what a forwarding socket lends: the profiles a client through
// it may get tokens for, and the label the audit records. It is immutable.
type Scope struct {
	Label    string
	Profiles []string
}

// Lends reports whether the scope lends profile name.
func (sc *Scope) Lends(name string) bool { return slices.Contains(sc.Profiles, name) }

// ForwardSpec is a forward to make.
type ForwardSpec struct {
	Profiles []string
	Label    string
	TTL      time.Duration
	AllowUID int // -1: none
}

// ForwardInfo describes a live forward.
type ForwardInfo struct {
	Label, Socket    string
	Profiles         []string
	Created, Expires time.Time
	Calls            int64
	AllowUID         int // -1: none
	Connections      int
}

// Forwards makes, lists and ends forwarding sockets: the forwarding
// adapter (daemon/adapter/forward). The core checks a request before it
// gets here.
type Forwards interface {
	Create(ctx context.Context, spec ForwardSpec) (ForwardInfo, error)
	List() []ForwardInfo
	Revoke(label string) (ForwardInfo, error)
}

// Forward limits: a forward outliving a working week is a second,
// unwatched credential.
const (
	DefaultForwardTTL = 12 * time.Hour
	MaxForwardTTL     = 7 * 24 * time.Hour
	MinForwardTTL     = 10 * time.Second
	maxLabel          = 64
)

// CreateForward checks spec and makes the forward.
func (s *Service) CreateForward(ctx context.Context, spec ForwardSpec) (ForwardInfo, error) {
	if s.forwards == nil {
		return ForwardInfo{}, errkind.New(errkind.Unsupported, "this dbx-credd cannot make forwarding sockets on this platform")
	}
	if len(spec.Profiles) == 0 {
		return ForwardInfo{}, errkind.New(errkind.BadInput, "name the profiles to lend with -p NAME (repeatable)")
	}
	seen := map[string]bool{}
	var list []string
	for _, name := range spec.Profiles {
		if seen[name] {
			continue
		}
		seen[name] = true
		if err := s.profiles.Known(name); err != nil {
			return ForwardInfo{}, s.fail(ctx, "create forward", name, err)
		}
		list = append(list, name)
	}
	spec.Profiles = list
	switch {
	case spec.TTL == 0:
		spec.TTL = DefaultForwardTTL
	case spec.TTL < MinForwardTTL || spec.TTL > MaxForwardTTL:
		return ForwardInfo{}, errkind.New(errkind.BadInput, fmt.Sprintf("--ttl %s: give between %s and %s (168h)", spec.TTL, MinForwardTTL, MaxForwardTTL))
	}
	if spec.Label == "" {
		spec.Label = "forward"
	}
	if err := checkLabel(spec.Label); err != nil {
		return ForwardInfo{}, err
	}
	if spec.AllowUID < -1 {
		return ForwardInfo{}, errkind.New(errkind.BadInput, fmt.Sprintf("--allow-uid %d: give a uid (0 or more)", spec.AllowUID))
	}
	info, err := s.forwards.Create(ctx, spec)
	if err != nil {
		return ForwardInfo{}, s.fail(ctx, "create forward", strings.Join(spec.Profiles, ","), err)
	}
	s.log.Info("forward created", "label", info.Label, "profiles", info.Profiles, "expires", info.Expires, "allow_uid", info.AllowUID)
	return info, nil
}

// checkLabel keeps labels to what prints safely in one column and one
// log field: ssh destinations (user@host:port) and plain words.
func checkLabel(l string) error {
	if len(l) > maxLabel {
		return errkind.New(errkind.BadInput, fmt.Sprintf("--label is %d characters; at most %d", len(l), maxLabel))
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@:._-+", r)) {
			return errkind.New(errkind.BadInput, fmt.Sprintf("--label %q: use letters, digits and @ : . _ - + only", l))
		}
	}
	return nil
}

// Forwards lists the live forwards.
func (s *Service) Forwards() []ForwardInfo {
	if s.forwards == nil {
		return nil
	}
	return s.forwards.List()
}

// RevokeForward ends the forward with label (or socket path) and closes
// its connections.
func (s *Service) RevokeForward(ctx context.Context, label string) (ForwardInfo, error) {
	if s.forwards == nil {
		return ForwardInfo{}, errkind.New(errkind.Unsupported, "this dbx-credd makes no forwarding sockets on this platform")
	}
	info, err := s.forwards.Revoke(label)
	if err != nil {
		return ForwardInfo{}, s.fail(ctx, "revoke forward", "", err)
	}
	s.log.Info("forward revoked", "label", info.Label)
	return info, nil
}

// lent resolves a request through a forward to one of the scope's
// profiles, or refuses it without naming any profile the scope does not
// lend (a remote machine learns nothing of the others).
func (s *Service) lent(sc *Scope, req profiles.TokenRequest) (string, error) {
	lends := strings.Join(sc.Profiles, ", ")
	name := req.Profile
	switch {
	case name == "" && req.Host == "":
		if len(sc.Profiles) == 1 {
			return sc.Profiles[0], nil
		}
		return "", errkind.New(errkind.BadInput, fmt.Sprintf("name a profile with -p: forward %s lends %s", sc.Label, lends))
	case name == "":
		resolved, err := s.profiles.ProfileForAccountIn(req.Host, req.AccountID, sc.Profiles)
		if err != nil || !sc.Lends(resolved) {
			return "", errkind.New(errkind.NotLent, fmt.Sprintf("no profile for %s is lent to this machine: forward %s lends %s", req.Host, sc.Label, lends))
		}
		return resolved, nil
	case !sc.Lends(name):
		return "", errkind.New(errkind.NotLent, fmt.Sprintf("profile %q is not lent to this machine: forward %s lends %s "+
			"(on the machine running dbx-credd: dbx-cred forward -p %s)", name, sc.Label, lends, name))
	}
	return name, nil
}
