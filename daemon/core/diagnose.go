package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/service"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// Bounds of dbx-cred doctor's daemon-side checks: each is a question a
// healthy system answers in well under a second, and the helper waits for
// all of them together (helper/doctor.go).
const (
	probeTimeout   = 10 * time.Second
	serviceTimeout = 5 * time.Second
	// skewWarn is where clock skew starts to matter: token expiry is
	// judged on this clock, and workspaces reject OAuth assertions minutes
	// off.
	skewWarn = 30 * time.Second
)

// Check is one diagnosis; Status is OK, WARN, FAIL or SKIP.
type Check struct {
	Name, Status, Message, Fix string
}

// Diagnose runs dbx-cred doctor's checks that only the daemon can: those
// that need the store or the workspace's HTTP and TLS, which the helper
// does not link. For every profile, or only one.
func (s *Service) Diagnose(ctx context.Context, profile string) ([]Check, error) {
	checks, err := s.diagnose(ctx, profile)
	if err != nil {
		return nil, s.fail(ctx, "diagnose", profile, err)
	}
	return checks, nil
}

func (s *Service) diagnose(ctx context.Context, only string) ([]Check, error) {
	var out []Check
	add := func(name, status, msg, fix string) {
		out = append(out, Check{Name: name, Status: status, Message: msg, Fix: fix})
	}
	if only == "" {
		s.checkService(ctx, add)
		s.checkStore(ctx, add)
		s.checkMetadata(add)
	}
	list := s.profiles.List()
	if only != "" {
		found := false
		for _, p := range list {
			if p.Name == only {
				list, found = []profiles.Profile{p}, true
				break
			}
		}
		if !found {
			// The manager's error lists the known profiles.
			return nil, s.profiles.WithRoot(ctx, only, func(string) error { return nil })
		}
	}
	for _, p := range list {
		s.checkProfile(ctx, p, add)
	}
	return out, nil
}

type addFunc func(name, status, msg, fix string)

func (s *Service) checkService(ctx context.Context, add addFunc) {
	m, err := service.New(s.getenv)
	if err != nil {
		add("service", "WARN", err.Error(), "")
		return
	}
	// kardianos asks systemctl or launchctl without a bound of its own.
	got := make(chan service.State, 1)
	go func() { got <- m.Status() }()
	var st service.State
	select {
	case st = <-got:
	case <-time.After(serviceTimeout):
		add("service", "WARN", fmt.Sprintf("the service manager did not answer within %s", serviceTimeout), "dbx-credd status")
		return
	case <-ctx.Done():
		return
	}
	switch {
	case !st.Installed:
		add("service", "SKIP", fmt.Sprintf("not installed (%s %s): dbx-cred starts the daemon on first use", st.Kind, st.Path), "")
	case !st.Enabled:
		add("service", "WARN", fmt.Sprintf("installed but not enabled: it will not start at login (%s)", st.Path), "dbx-credd install")
	default:
		add("service", "OK", fmt.Sprintf("installed and enabled, %s (%s)", st.Running, st.Path), "")
	}
}

func (s *Service) checkStore(ctx context.Context, add addFunc) {
	i := s.stores.Info(ctx)
	switch {
	case i.Name == "":
		add("store", "FAIL", "no store is usable: "+oneLine(i.Note), "DBX_CRED_STORE=file dbx-cred daemon restart")
		add("store.probe", "SKIP", "no store to probe", "")
		return
	case i.Locked:
		add("store", "FAIL", fmt.Sprintf("the %s is locked", storeName(i)), "dbx-cred unlock")
		add("store.probe", "SKIP", "the store is locked", "")
		return
	case !i.Reachable:
		add("store", "FAIL", fmt.Sprintf("the %s does not answer: %s", storeName(i), oneLine(i.Note)), "dbx-cred daemon status")
		add("store.probe", "SKIP", "the store does not answer", "")
		return
	}
	msg := fmt.Sprintf("the %s: reachable, unlocked", storeName(i))
	if i.Note != "" {
		msg += "; " + oneLine(i.Note)
	}
	add("store", "OK", msg, "")
	if err := s.stores.ProbeWrite(ctx); err != nil {
		add("store.probe", "FAIL", err.Error(), "dbx-cred daemon restart")
		return
	}
	add("store.probe", "OK", "wrote, read back and deleted a random item", "")
}

func (s *Service) checkMetadata(add addFunc) {
	info := s.withMetadataState(s.info)
	switch base, errText := info.MetadataListen, info.MetadataError; {
	case errText != "":
		// Not "move to another port": every URL written into a
		// .databrickscfg points at this one, and would break silently.
		add("metadata", "WARN", "the metadata service for SDKs is down: "+errText,
			"free the port: dbx-credd takes it as soon as it is free, with no restart, and the URLs already handed out work again. "+
				"Moving to another port instead breaks those URLs: after it, run dbx-cred doctor again, which names each .databrickscfg line to rewrite with dbx-cred metadata-url -p NAME")
	case base == "":
		add("metadata", "SKIP", "the metadata service is turned off (--metadata-listen off)", "")
	default:
		add("metadata", "OK", "serving on "+base, "")
	}
}

func (s *Service) checkProfile(ctx context.Context, p profiles.Profile, add addFunc) {
	pre := "profile." + p.Name + "."
	login := profiles.LoginCommand(p.Profile)
	oauth := !p.BearerRoot
	var probe workspace.Probe
	err := s.profiles.WithRoot(ctx, p.Name, func(root string) error {
		mePath := "/api/2.0/preview/scim/v2/Me"
		if p.AccountID != "" {
			mePath = "/api/2.0/accounts/" + url.PathEscape(p.AccountID) + "/scim/v2/Me"
		}
		probe = workspace.ProbeHostAt(ctx, p.Host, mePath, root, probeTimeout)
		return nil
	})
	if err != nil {
		fix := login
		if errors.Is(err, store.ErrLocked) {
			fix = "dbx-cred unlock"
		}
		add(pre+"token", "FAIL", "cannot read the stored token: "+err.Error(), fix)
		return
	}
	if probe.DNSErr != nil {
		add(pre+"dns", "FAIL", fmt.Sprintf("%s does not resolve: %v", p.Host, probe.DNSErr), "check the host, your network or VPN, then: "+login)
		return
	}
	add(pre+"dns", "OK", fmt.Sprintf("%s resolves to %s", p.Host, strings.Join(probe.Addrs, ", ")), "")
	switch {
	case !probe.TLS:
		add(pre+"tls", "SKIP", "plain http:// host (a loopback emulator): no TLS to check", "")
	case probe.TLSErr != nil:
		add(pre+"tls", "FAIL", "TLS handshake failed: "+probe.TLSErr.Error(), "check the system's CA certificates or a TLS-inspecting proxy")
		return
	default:
		add(pre+"tls", "OK", "TLS handshake: "+probe.TLSInfo, "")
	}
	switch code := probe.MeStatus; {
	case probe.MeErr != nil:
		add(pre+"token", "FAIL", "SCIM Me failed: "+probe.MeErr.Error(), "check the network, then: dbx-cred doctor -p "+p.Name)
	case code == http.StatusOK:
		user := p.UserName
		if user == "" {
			user = "its user"
		}
		what := "the stored token works"
		if oauth {
			// WithRoot hands an OAuth profile's check a fresh access token.
			me := "SCIM Me"
			if p.AccountID != "" {
				me = "the account's SCIM Me"
			}
			what = "the OAuth login works: " + me + " with a fresh access token answers as " + user
			add(pre+"token", "OK", what, "")
			break
		}
		add(pre+"token", "OK", what+" (SCIM Me as "+user+")", "")
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		add(pre+"token", "FAIL", fmt.Sprintf("the workspace rejects the stored token (HTTP %d): revoked or expired", code), login)
	default:
		add(pre+"token", "WARN", fmt.Sprintf("SCIM Me answered HTTP %d", code), "dbx-cred doctor -p "+p.Name)
	}
	switch sk := probe.Skew; {
	case !probe.HasDate:
		add(pre+"clock", "SKIP", "the workspace sent no Date header", "")
	case sk > skewWarn || sk < -skewWarn:
		add(pre+"clock", "WARN", fmt.Sprintf("this clock is %s off the workspace's", sk), "sync the clock (timedatectl set-ntp true)")
	default:
		add(pre+"clock", "OK", "within "+skewWarn.String()+" of the workspace's Date header", "")
	}
	switch {
	case oauth && p.LastError != "":
		add(pre+"root", "WARN", "last refresh failed: "+oneLine(p.LastError), login)
	case oauth && !p.CurrentExpiry.IsZero() && p.Federated != "":
		add(pre+"root", "OK", "oidc-federation: nothing stored; access token exchanged for an ID token from "+p.Federated+
			", renewed before "+p.CurrentExpiry.Local().Format(time.TimeOnly)+"; no exchange error", "")
	case oauth && !p.CurrentExpiry.IsZero():
		add(pre+"root", "OK", "access token renewed before "+p.CurrentExpiry.Local().Format(time.TimeOnly)+"; no refresh error", "")
	case p.RootWarning != "" && !time.Now().Before(p.RootExpiry):
		add(pre+"root", "FAIL", p.RootWarning, login+" --adopt")
	case p.RootWarning != "":
		add(pre+"root", "WARN", p.RootWarning, "dbx-cred rotate -p "+p.Name)
	case p.RootRotationError != "":
		add(pre+"root", "WARN", "automatic root rotation failed: "+oneLine(p.RootRotationError), "dbx-cred rotate -p "+p.Name)
	case p.LastError != "":
		add(pre+"root", "WARN", "last renewal failed: "+oneLine(p.LastError), "dbx-cred rotate -p "+p.Name)
	case !p.NextRootRotation.IsZero():
		add(pre+"root", "OK", "expires "+p.RootExpiry.UTC().Format(time.DateOnly)+"; replaced automatically at "+p.NextRootRotation.UTC().Format(time.RFC3339)+"; no renewal error", "")
	case !p.RootExpiry.IsZero():
		add(pre+"root", "OK", "expires "+p.RootExpiry.UTC().Format(time.DateOnly)+" (automatic rotation is off); no renewal error", "")
	default:
		add(pre+"root", "OK", "no known expiry; no renewal error", "")
	}
}

// storeName names the store once: a backend's description already starts
// with the store's name where it has one ("file (/path)"), which "%s (%s)"
// would say twice.
func storeName(i StoreInfo) string {
	switch {
	case i.Backend == "" || i.Backend == i.Name:
		return i.Name + " store"
	case strings.HasPrefix(i.Backend, i.Name+" ("):
		return i.Name + " store " + strings.TrimPrefix(i.Backend, i.Name+" ")
	}
	return i.Name + " store (" + i.Backend + ")"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
