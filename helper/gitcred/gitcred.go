// Package gitcred reads and writes git's credential helper protocol
// (git-credential(1)): "key=value" lines, ended by a blank line or EOF. It
// knows nothing of tokens or daemons, so it can be fuzzed on its own.
package gitcred

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxInput bounds what Parse reads. git sends a few hundred bytes; anything
// near this is not git talking.
const MaxInput = 64 << 10

// Request is what git tells a helper. Unknown keys are kept in Other only so
// that tests can see them; git's rule is that helpers ignore them.
type Request struct {
	Protocol string
	Host     string // host, with ":port" when the URL had one
	Path     string
	Username string
	Password string
	// PasswordExpiryUTC is kept verbatim; dbx-cred never needs to parse it.
	PasswordExpiryUTC string
	// Arrays ("key[]=v" lines), e.g. wwwauth[] and capability[].
	WWWAuth    []string
	Capability []string
	Other      map[string]string
}

// ErrMalformed wraps every parse failure so callers can tell bad input from
// I/O trouble.
var ErrMalformed = errors.New("malformed git credential input")

// Parse reads one request from r. Like git, it strips a trailing CR (git
// reads with strbuf_getline, which accepts CRLF) and lets a later line
// override an earlier one; an empty value for an array key clears the array.
// A "url=" line sets protocol, host, path, username and password from the URL
// (and clears the ones it lacks), as git credential fill does.
func Parse(r io.Reader) (*Request, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxInput+1))
	req := &Request{}
	read, n := 0, 0
	for {
		n++
		line, err := br.ReadString('\n')
		read += len(line)
		if read > MaxInput {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMalformed, MaxInput)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read git credential input: %w", err)
		}
		atEOF := err != nil
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			// A blank line ends the request; so does EOF.
			return req, nil
		}
		if err := req.set(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if atEOF {
			return req, nil
		}
	}
}

func (req *Request) set(line string) error {
	if strings.ContainsRune(line, 0) {
		return fmt.Errorf("%w: a line contains a NUL byte", ErrMalformed)
	}
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		// The line itself is not echoed: it might be a secret pasted by mistake.
		return fmt.Errorf("%w: the line is not key=value", ErrMalformed)
	}
	if key == "" || strings.ContainsAny(key, " \t") {
		return fmt.Errorf("%w: invalid key %q", ErrMalformed, clip(key))
	}
	switch key {
	case "protocol":
		req.Protocol = value
	case "host":
		req.Host = value
	case "path":
		req.Path = value
	case "username":
		req.Username = value
	case "password":
		req.Password = value
	case "password_expiry_utc":
		req.PasswordExpiryUTC = value
	case "url":
		return req.setURL(value)
	case "wwwauth[]":
		req.WWWAuth = appendOrReset(req.WWWAuth, value)
	case "capability[]":
		req.Capability = appendOrReset(req.Capability, value)
	default:
		if req.Other == nil {
			req.Other = map[string]string{}
		}
		req.Other[key] = value
	}
	return nil
}

func (req *Request) setURL(value string) error {
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%w: url %q is not an absolute URL", ErrMalformed, clip(redactURL(value)))
	}
	req.Protocol = u.Scheme
	req.Host = u.Host
	req.Path = strings.TrimPrefix(u.Path, "/")
	req.Username, req.Password = "", ""
	if u.User != nil {
		req.Username = u.User.Username()
		req.Password, _ = u.User.Password()
	}
	return nil
}

// appendOrReset follows git: an empty value resets the array.
func appendOrReset(list []string, v string) []string {
	if v == "" {
		return nil
	}
	return append(list, v)
}

// clip keeps error messages short: input is echoed to the user's terminal.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// redactURL hides a password in a URL that is about to go into an error.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "(credentials hidden)" + s[i:]
		}
		return "(a URL with credentials)"
	}
	return s
}

// Answer is what a helper tells git for "get".
type Answer struct {
	Username string
	Password string
	// PasswordExpiryUTC is unix seconds; 0 means the password does not
	// expire and the line is left out.
	PasswordExpiryUTC int64
}

// Write renders a in git's format. Values with a newline or NUL cannot be
// said in the protocol (and would let a value inject keys), so they are an
// error rather than silently cut.
func (a Answer) Write(w io.Writer) error {
	for _, v := range []string{a.Username, a.Password} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return errors.New("a credential value contains a line break or NUL byte, which git's protocol cannot carry")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "username=%s\npassword=%s\n", a.Username, a.Password)
	if a.PasswordExpiryUTC > 0 {
		fmt.Fprintf(&b, "password_expiry_utc=%d\n", a.PasswordExpiryUTC)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
