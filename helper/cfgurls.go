package helper

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/databrickscfg"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// cfgPointer is a .databrickscfg section that sends tools to dbx-credd's
// metadata service (what import writes): the section, the line of its
// metadata_service_url, and that URL.
type cfgPointer struct {
	section string
	line    int
	url     string
}

// metadataPointers lists the sections of f whose metadata_service_url is
// on this machine's loopback: dbx-credd's, or a stale one of it.
func metadataPointers(f *databrickscfg.File) []cfgPointer {
	var out []cfgPointer
	for _, sec := range f.Sections() {
		v, ok := f.Get(sec, "metadata_service_url")
		if !ok {
			continue
		}
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch u.Hostname() {
		case "127.0.0.1", "localhost", "::1":
		default:
			continue
		}
		line := 0
		if ls := f.Lines(sec, "metadata_service_url"); len(ls) > 0 {
			line = ls[0]
		}
		out = append(out, cfgPointer{section: sec, line: line, url: strings.TrimSpace(v)})
	}
	return out
}

// warnStaleConfig says, after a logout, which .databrickscfg sections
// still send tools to dbx-credd for the profile, and the commands that fix
// them: the daemon forgot the profile's URL with it.
func (c *cli) warnStaleConfig(profile string) {
	path, err := configPath("", c.io.Getenv)
	if err != nil {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	f := databrickscfg.Parse(data)
	for _, p := range metadataPointers(f) {
		if p.section != profile {
			continue
		}
		host, _ := f.Get(p.section, "host")
		if host = strings.TrimSpace(host); host == "" {
			host = "HOST"
		}
		fmt.Fprintf(c.io.Stderr, "WARNING: %s [%s] (line %d) still sends tools to dbx-credd for this profile, which no longer serves it: "+
			"delete its auth_type and metadata_service_url lines (or the section), or log in again "+
			"(dbx-cred login -p %s --host %s) and put the new URL in that line (dbx-cred metadata-url -p %s prints it).\n",
			printable(path), printable(p.section), p.line, quoteArg(profile), printable(host), quoteArg(profile))
	}
}

// doctorConfigURLs checks that every section of path pointing at dbx-credd
// points at a URL it serves now: a logged-out profile's, or one rotated
// since, fails every tool that uses it.
func (c *cli) doctorConfigURLs(path string, f *databrickscfg.File, add func(name, status, msg, fix string)) {
	for _, p := range metadataPointers(f) {
		name := "config." + p.section + ".metadata_url"
		ctx, cancel := within(10 * time.Second)
		// Never a daemon started for doctor: its daemon check says if none runs.
		resp, err := c.daemon(false).MetadataURL(ctx, &pb.MetadataURLRequest{Profile: p.section})
		cancel()
		switch {
		case errkind.Of(err) == errkind.NotFound:
			add(name, "FAIL", fmt.Sprintf("%s [%s] line %d sends tools to dbx-credd, which has no profile %s (logged out?)", path, p.section, p.line, p.section),
				fmt.Sprintf("dbx-cred login -p %s --host HOST, then put dbx-cred metadata-url -p %s in line %d (or delete that section)", quoteArg(p.section), quoteArg(p.section), p.line))
		case err != nil:
			add(name, "SKIP", "cannot ask dbx-credd: "+err.Error(), "")
		case resp.GetUrl() != p.url:
			add(name, "FAIL", fmt.Sprintf("%s [%s] line %d holds a metadata URL dbx-credd no longer serves (rotated, or another port)", path, p.section, p.line),
				fmt.Sprintf("put the output of dbx-cred metadata-url -p %s in line %d", quoteArg(p.section), p.line))
		default:
			add(name, "OK", fmt.Sprintf("%s [%s] points at dbx-credd's URL for it", path, p.section), "")
		}
	}
}
