package gitcred

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Request
	}{
		{"git's get", "protocol=https\nhost=adb-1.azuredatabricks.net\npath=Repos/x.git\nwwwauth[]=Basic realm=\"x\"\ncapability[]=authtype\n\n",
			Request{Protocol: "https", Host: "adb-1.azuredatabricks.net", Path: "Repos/x.git",
				WWWAuth: []string{`Basic realm="x"`}, Capability: []string{"authtype"}}},
		{"EOF ends it, no newline", "protocol=http\nhost=127.0.0.1:8080", Request{Protocol: "http", Host: "127.0.0.1:8080"}},
		{"blank line ends it", "protocol=https\n\nhost=ignored\n", Request{Protocol: "https"}},
		{"CRLF", "protocol=https\r\nhost=h\r\n\r\n", Request{Protocol: "https", Host: "h"}},
		{"later wins, = in value", "host=a\nhost=b\npassword=x=y\n", Request{Host: "b", Password: "x=y"}},
		{"empty array value resets", "wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\n", Request{WWWAuth: []string{"b"}}},
		{"url sets the parts", "username=old\nurl=https://u:p@h:8443/a/b.git\n", Request{Protocol: "https", Host: "h:8443", Path: "a/b.git", Username: "u", Password: "p"}},
		{"unknown keys kept aside", "protocol=https\nfuture=1\n", Request{Protocol: "https", Other: map[string]string{"future": "1"}}},
		{"empty input", "", Request{}},
	}
	for _, c := range cases {
		got, err := Parse(strings.NewReader(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, *got, c.want)
		}
	}
}

func TestParseRejectsMalformedWithoutEchoingSecrets(t *testing.T) {
	for name, in := range map[string]string{
		"no equals":  "protocol=https\ndapiSECRETSECRET\n",
		"empty key":  "=x\n",
		"NUL":        "host=a\x00b\n",
		"space key":  "pass word=x\n",
		"bad url":    "url=https://u:SECRETSECRET@%zz/\n",
		"too long":   "path=" + strings.Repeat("a", MaxInput) + "\n",
		"no scheme":  "url=just-a-host\n",
		"huge lines": strings.Repeat("a=b\n", MaxInput/4+1),
	} {
		_, err := Parse(strings.NewReader(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error echoes the secret: %v", name, err)
		}
	}
}

func TestAnswerWrite(t *testing.T) {
	var b bytes.Buffer
	if err := (Answer{Username: "token", Password: "dapi1", PasswordExpiryUTC: 1700000000}).Write(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "username=token\npassword=dapi1\npassword_expiry_utc=1700000000\n" {
		t.Fatalf("got %q", b.String())
	}
	b.Reset()
	if err := (Answer{Username: "token", Password: "dapi1"}).Write(&b); err != nil || b.String() != "username=token\npassword=dapi1\n" {
		t.Fatalf("no expiry: %q %v", b.String(), err)
	}
	b.Reset()
	if err := (Answer{Username: "token", Password: "a\nhost=evil"}).Write(&b); err == nil || b.Len() != 0 {
		t.Fatalf("a newline in a value was written: %q %v", b.String(), err)
	}
}

// FuzzParse checks that no input crashes the parser, that every accepted
// request survives a round trip through git's format, and that errors never
// quote more than a key.
func FuzzParse(f *testing.F) {
	f.Add("protocol=https\nhost=adb-1.azuredatabricks.net\n\n")
	f.Add("protocol=http\nhost=127.0.0.1:8080\npath=repo.git\nusername=token\npassword=dapi0\npassword_expiry_utc=1\n")
	f.Add("url=https://u:p@h/x\n")
	f.Add("wwwauth[]=Basic realm=\"git\"\ncapability[]=authtype\ncapability[]=\n")
	f.Add("no-equals\n")
	f.Add("=\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		req, err := Parse(strings.NewReader(in))
		if err != nil {
			if req != nil {
				t.Fatal("a request and an error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("non-protocol error from a string reader: %v", err)
			}
			return
		}
		for _, v := range []string{req.Protocol, req.Host, req.Path, req.Username, req.Password} {
			if strings.ContainsAny(v, "\n\x00") {
				t.Fatalf("a parsed value holds a newline or NUL: %q", v)
			}
		}
		// Round trip: the fields, written back as git would, parse the same.
		var b strings.Builder
		for k, v := range map[string]string{"protocol": req.Protocol, "host": req.Host, "path": req.Path,
			"username": req.Username, "password": req.Password} {
			if v != "" && !strings.HasSuffix(v, "\r") {
				b.WriteString(k + "=" + v + "\n")
			}
		}
		again, err := Parse(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if again.Host != req.Host && !strings.HasSuffix(req.Host, "\r") {
			t.Fatalf("host %q became %q", req.Host, again.Host)
		}
	})
}
