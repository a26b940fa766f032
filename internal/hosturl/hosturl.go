// Package hosturl turns what a user types as a workspace address into the one
// canonical form used everywhere else: scheme and host (and port), no path,
// no trailing slash. Both the daemon (to store profiles) and the helper (to
// map git and SDK hosts to profiles) compare hosts in this form.
package hosturl

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Example is shown in every error so the user sees what a good host looks like.
const Example = "https://adb-1234567890123456.7.azuredatabricks.net"

// Normalize returns the canonical workspace URL for s. A missing scheme means
// https; http is accepted as given, for local emulators and proxies.
func Normalize(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return "", fmt.Errorf("no workspace host given: pass --host, e.g. --host %s", Example)
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(s, "it is not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
	default:
		return "", invalid(s, fmt.Sprintf("scheme %q is not http or https", u.Scheme))
	}
	if u.User != nil {
		return "", invalid(s, "it must not carry a user name or password")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", invalid(s, "it must not have a query or fragment")
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" {
		return "", invalid(s, fmt.Sprintf("it has a path (%q); give only the workspace address", u.Path))
	}
	host := strings.ToLower(u.Hostname())
	if !validHost(host) {
		return "", invalid(s, "the host name is not valid")
	}
	port := u.Port()
	if port != "" && !validPort(port) {
		return "", invalid(s, fmt.Sprintf("port %q is not valid", port))
	}
	out := strings.ToLower(u.Scheme) + "://"
	if strings.Contains(host, ":") {
		out += "[" + host + "]"
	} else {
		out += host
	}
	if port != "" && !(u.Scheme == "https" && port == "443") && !(u.Scheme == "http" && port == "80") {
		out += ":" + port
	}
	return out, nil
}

// Repair cuts an address copied from a browser ("https://adb-1.2.
// azuredatabricks.net/?o=1#job/5", ".../browse/folders/123") to the
// workspace URL, and reports whether it had to. An address that is not
// http(s), carries a user, or is not a workspace URL even without its
// path is left alone, for Normalize to explain.
func Repair(s string) (string, bool) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return s, false
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return s, false
	}
	if strings.TrimRight(u.Path, "/") == "" && u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(raw, "#") && !strings.HasSuffix(raw, "?") {
		return s, false
	}
	cut, err := Normalize(u.Scheme + "://" + u.Host)
	if err != nil {
		return s, false
	}
	return cut, true
}

func invalid(s, why string) error {
	return fmt.Errorf("invalid workspace host %q: %s; use the workspace URL, e.g. %s", s, why, Example)
}

// validHost accepts IP literals and DNS names made of letters, digits, '-'
// and '.', which also keeps shell and header metacharacters out of hosts.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 65536
}

// CheckTransport refuses a cleartext host that is not this machine: over
// http:// the token would cross the network unencrypted, readable and
// replayable by anyone on the path. normalizedHost is Normalize's output.
// https:// always passes; http:// passes for loopback (127.0.0.0/8, ::1,
// localhost: local emulators and proxies) or when allowInsecure says the
// user asked for it (--insecure-http). Both the helper, before it sends a
// token to the daemon, and the daemon, before it sends one to a
// workspace, call it.
func CheckTransport(normalizedHost string, allowInsecure bool) error {
	u, err := url.Parse(normalizedHost)
	if err != nil || u.Host == "" {
		return invalid(normalizedHost, "it is not a URL")
	}
	if !strings.EqualFold(u.Scheme, "http") || allowInsecure || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("refusing %s: over http:// the token would cross the network unencrypted, "+
		"readable by anyone on the way; use https://%s, or pass --insecure-http if you really mean to send it in clear",
		normalizedHost, u.Host)
}

// isLoopback reports whether h names this machine without leaving it.
func isLoopback(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
