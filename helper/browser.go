package helper

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// openBrowser starts a browser on url and returns once it has started,
// never waiting for it to exit (many openers only return when the browser
// window closes). The URL is one argument of an exec, never a shell word:
// it comes from the daemon, and & or ; in a query string must stay text.
// $BROWSER wins, as xdg-open and Python's webbrowser honour it (dev
// containers and WSL set it to reach the host's browser); it is a list of
// commands separated like PATH, each of which may carry arguments and a %s
// where the URL goes, tried in order until one starts.
func openBrowser(getenv func(string) string, url string) error {
	var tried []string
	for _, entry := range filepath.SplitList(getenv("BROWSER")) {
		argv := browserArgv(entry, url)
		if argv == nil {
			continue
		}
		if err := startDetached(argv); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", argv[0], err))
			continue
		}
		return nil
	}
	if len(tried) > 0 {
		return fmt.Errorf("$BROWSER did not start (%s)", strings.Join(tried, "; "))
	}
	argv := append(platformOpener(), url)
	if err := startDetached(argv); err != nil {
		return fmt.Errorf("%s: %v", argv[0], err)
	}
	return nil
}

// browserArgv splits one $BROWSER entry into words (no quoting: xdg-open
// does no more) and puts url where %s is, else after the last word.
func browserArgv(entry, url string) []string {
	words := strings.Fields(entry)
	if len(words) == 0 {
		return nil
	}
	placed := false
	for i, w := range words[1:] {
		if strings.Contains(w, "%s") {
			words[i+1] = strings.ReplaceAll(w, "%s", url)
			placed = true
		}
	}
	if !placed {
		words = append(words, url)
	}
	return words
}

// startDetached starts argv with no stdio of ours (os/exec opens the null
// device for nil ones), so a chatty browser cannot scribble over the
// prompt and cannot hold our stderr open, and in a session of its own, so
// the Ctrl-C that cancels a login does not also kill the browser. The
// child is reaped in the background; nobody waits for it.
func startDetached(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
