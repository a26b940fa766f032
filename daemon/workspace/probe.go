package workspace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Probe is what a direct look at a workspace found, for dbx-cred doctor.
// Each step runs only when the one before it worked; the zero value of a
// later field means it did not run.
type Probe struct {
	Addrs    []string // what the host resolved to; nil when DNS failed
	DNSErr   error
	TLS      bool   // false for http:// hosts, which have no handshake
	TLSErr   error  // nil when the handshake worked or was not tried
	TLSInfo  string // protocol version and the certificate's expiry
	MeStatus int    // HTTP status of SCIM Me with the token; 0 when not reached
	MeErr    error  // the request itself failed
	Skew     time.Duration
	HasDate  bool // the answer carried a Date header (Skew is then set)
}

// ProbeHost resolves host, shakes hands with it (https only) and asks SCIM
// Me with token, timing the answer to compare the workspace's Date header
// with this clock. Every step is bounded by timeout. The token goes only in
// the Authorization header; errors never contain it.
func ProbeHost(ctx context.Context, host, token string, timeout time.Duration) Probe {
	return ProbeHostAt(ctx, host, "/api/2.0/preview/scim/v2/Me", token, timeout)
}

// ProbeHostAt is ProbeHost asking mePath instead: an accounts host answers
// SCIM Me only under /api/2.0/accounts/<account id>/scim/v2/Me.
func ProbeHostAt(ctx context.Context, host, mePath, token string, timeout time.Duration) Probe {
	var p Probe
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" {
		p.DNSErr = fmt.Errorf("%q is not a workspace URL", host)
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.Addrs, p.DNSErr = net.DefaultResolver.LookupHost(ctx, u.Hostname())
	if p.DNSErr != nil {
		return p
	}
	if u.Scheme == "https" {
		p.TLS = true
		port := u.Port()
		if port == "" {
			port = "443"
		}
		d := tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		if err != nil {
			p.TLSErr = err
			return p
		}
		st := conn.(*tls.Conn).ConnectionState()
		p.TLSInfo = tls.VersionName(st.Version)
		if len(st.PeerCertificates) > 0 {
			p.TLSInfo += ", certificate valid until " + st.PeerCertificates[0].NotAfter.UTC().Format(time.DateOnly)
		}
		conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(host, "/")+mePath, nil)
	if err != nil {
		p.MeErr = err
		return p
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		// url.Error names the URL, never the header: safe to show.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.MeErr = err
		return p
	}
	got := time.Now()
	resp.Body.Close()
	p.MeStatus = resp.StatusCode
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date has a resolution of one second; compare with the middle of
		// the round trip.
		p.HasDate = true
		mid := sent.Add(got.Sub(sent) / 2)
		p.Skew = mid.Sub(d).Truncate(time.Second)
	}
	return p
}
