package helper

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const proxyHelp = `
Serves a local authenticating proxy for a profile: a base URL on 127.0.0.1
that dbx-credd forwards to the profile's workspace, adding the current
short-lived token. A tool that only knows a base URL and an API key (an
OpenAI client against model serving, an agent, plain curl) then never holds
a token, and never sees one expire.

  dbx-cred proxy -p prod                  # the URL, and how to use it
  dbx-cred proxy -p prod --url            # the URL alone
  eval "$(dbx-cred proxy -p prod --env)"  # OPENAI_BASE_URL, DATABRICKS_HOST
  curl "$(dbx-cred proxy -p prod --url)/api/2.0/clusters/list"
  dbx-cred proxy --list
  dbx-cred proxy -p prod --stop

Any Authorization, Cookie or X-Databricks-* header a client sends is
removed first; give an OpenAI client any placeholder as its API key.
Bodies stream both ways (server-sent events, large uploads and downloads).
A 401 from the workspace costs one forced renewal and one retry for a
request whose body is at most 1 MiB. Only your own processes get in (checked per
connection, as for the metadata endpoint), the Host header must be the
proxy's own (no DNS rebinding), and no CORS headers are sent, so no web
page can use it. A restarted dbx-credd serves it again on the same port
(until --stop). Where the
OS cannot tell a connection's uid, or with --path-secret, the URL also
carries an unguessable path prefix (new at each daemon start). Each
request is in dbx-cred audit as channel proxy with its method, path and
status, never a header.`

func runProxy(c *cli, args []string) error {
	fs := c.flags("proxy", "[-p NAME] [--url | --env | --stop] | --list", proxyHelp)
	profile := c.profileFlag(fs)
	bare := fs.Bool("url", false, "print the base URL alone")
	env := fs.Bool("env", false, "print export lines: OPENAI_BASE_URL (the profile's /serving-endpoints) and DATABRICKS_HOST")
	list := fs.Bool("list", false, "show the proxies being served")
	stop := fs.Bool("stop", false, "stop the profile's proxy (its port stays reserved for it)")
	secret := fs.Bool("path-secret", false, "serve under an unguessable path prefix too (the default where the OS cannot tell a connection's uid; it changes when the daemon restarts)")
	if err := parse(fs, args); err != nil {
		return err
	}
	n := 0
	for _, b := range []bool{*bare, *env, *list, *stop} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usageErr("proxy: give at most one of --url, --env, --list, --stop")
	}
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	switch {
	case *list:
		resp, err := c.daemon(false).ListProxies(ctx, &pb.ListProxiesRequest{})
		if err != nil {
			return err
		}
		if len(resp.GetProxies()) == 0 {
			fmt.Fprintln(c.io.Stdout, "No proxies. Start one with dbx-cred proxy -p NAME.")
			return nil
		}
		tw := tabwriter.NewWriter(c.io.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROFILE\tURL\tHOST\tREQUESTS")
		for _, p := range resp.GetProxies() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", printable(p.GetProfile()), printable(p.GetUrl()), printable(p.GetHost()), p.GetRequests())
		}
		return tw.Flush()
	case *stop:
		resp, err := c.daemon(false).StopProxy(ctx, &pb.StopProxyRequest{Profile: *profile})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.io.Stdout, "Stopped the proxy of profile %s (%s).\n", printable(resp.GetProxy().GetProfile()), printable(resp.GetProxy().GetUrl()))
		return nil
	}
	resp, err := c.daemon(true).StartProxy(ctx, &pb.StartProxyRequest{Profile: *profile, PathSecret: *secret})
	if err != nil {
		return err
	}
	u := resp.GetProxy().GetUrl()
	switch {
	case *bare:
		fmt.Fprintln(c.io.Stdout, u)
	case *env:
		fmt.Fprintf(c.io.Stdout, "export OPENAI_BASE_URL=%s/serving-endpoints\nexport DATABRICKS_HOST=%s\n", u, u)
	default:
		fmt.Fprintln(c.io.Stdout, u)
		fmt.Fprintf(c.io.Stdout, "# Forwards to %s with profile %s's token. OpenAI clients: base URL %s/serving-endpoints, any API key.\n",
			printable(resp.GetProxy().GetHost()), printable(*profile), u)
		fmt.Fprintf(c.io.Stdout, "# Stop it: dbx-cred proxy -p %s --stop\n", printable(strings.TrimSpace(*profile)))
	}
	return nil
}
