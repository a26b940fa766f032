package databrickscfg

import (
	"bytes"
	"reflect"
	"sort"
	"testing"
)

func TestImportEditKeepsEverythingElse(t *testing.T) {
	in := "; my config\r\n[__settings__]\r\ndefault_profile = prod\r\n\r\n" +
		"[prod]\r\nhost  = https://h   # the workspace\r\ntoken = dapiSECRET\r\ncluster_id = c1\r\n\r\n" +
		"# dev below\r\n[dev]\r\nhost = https://d\r\ntoken = dapiOTHER\r\n"
	f := Parse([]byte(in))
	if n := f.Delete("prod", "token"); n != 1 {
		t.Fatalf("Delete removed %d entries", n)
	}
	if err := f.Set("prod", "auth_type", "metadata-service"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("prod", "metadata_service_url", "http://127.0.0.1:8471/abc"); err != nil {
		t.Fatal(err)
	}
	want := "; my config\r\n[__settings__]\r\ndefault_profile = prod\r\n\r\n" +
		"[prod]\r\nhost  = https://h   # the workspace\r\ncluster_id = c1\r\nauth_type = metadata-service\r\nmetadata_service_url = http://127.0.0.1:8471/abc\r\n\r\n" +
		"# dev below\r\n[dev]\r\nhost = https://d\r\ntoken = dapiOTHER\r\n"
	if got := string(f.Bytes()); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	checkAgainstSDK(t, f.Bytes())
}

func TestSetLayout(t *testing.T) {
	for _, tc := range []struct{ name, in, key, value, want string }{
		{"aligned keys stay aligned", "[p]\nhost      = h\n", "auth_type", "pat", "[p]\nhost      = h\nauth_type = pat\n"},
		{"compact stays compact", "[p]\nhost=h\n", "auth_type", "pat", "[p]\nhost=h\nauth_type=pat\n"},
		{"indentation is kept", "[p]\n  host = h\n", "k", "v", "[p]\n  host = h\n  k = v\n"},
		{"in place, comment kept", "[p]\nauth_type = pat  # old\nhost = h\n", "auth_type", "metadata-service", "[p]\nauth_type = metadata-service  # old\nhost = h\n"},
		{"last duplicate is the one read", "[p]\nk = 1\nk = 2\n", "k", "3", "[p]\nk = 1\nk = 3\n"},
		{"after the header of an empty section", "[p]\n\n[q]\n", "k", "v", "[p]\nk = v\n\n[q]\n"},
		{"no final newline", "[p]\nhost = h", "k", "v", "[p]\nhost = h\nk = v"},
		{"unchanged value changes nothing", "[p]\nk =  v  ; c\n", "k", "v", "[p]\nk =  v  ; c\n"},
		{"a value with ' #' is backquoted", "[p]\n", "k", "a #b", "[p]\nk = `a #b`\n"},
		{"so is one with quotes", "[p]\n", "k", "'x'", "[p]\nk = `'x'`\n"},
		{"multi-line entry becomes one line", "[p]\nk = a\\\n b\nhost = h\n", "k", "v", "[p]\nk = v\nhost = h\n"},
		{"empty value", "[p]\nk =\nhost = h\n", "k", "v", "[p]\nk = v\nhost = h\n"},
		{"DEFAULT without header", "host = h\n[p]\n", DefaultSection, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if tc.key == DefaultSection {
				if err := f.Set(DefaultSection, "auth_type", "pat"); err != nil {
					t.Fatal(err)
				}
				if got := string(f.Bytes()); got != "host = h\nauth_type = pat\n[p]\n" {
					t.Fatalf("got %q", got)
				}
				return
			}
			if err := f.Set("p", tc.key, tc.value); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if v, _ := f.Get("p", tc.key); v != tc.value {
				t.Fatalf("reads back %q", v)
			}
		})
	}
}

func TestSetRefuses(t *testing.T) {
	f := Parse([]byte("[p]\nhost = h\n"))
	for _, tc := range []struct{ section, key, value string }{
		{"nope", "k", "v"}, {"p", "k", "a\nb"}, {"p", "a=b", "v"}, {"p", "-", "v"},
	} {
		if err := f.Set(tc.section, tc.key, tc.value); err == nil {
			t.Errorf("Set(%q, %q, %q) succeeded", tc.section, tc.key, tc.value)
		}
	}
	if string(f.Bytes()) != "[p]\nhost = h\n" {
		t.Fatal("a refused Set changed the file")
	}
}

// FuzzEditTouchesOnlyTargetLines: on any file the SDK can read, Delete
// removes exactly the key's entry lines and Set changes exactly the entry
// the SDK reads (or inserts one line after the section's last entry); every
// other line is kept byte for byte, and every other value reads the same.
func FuzzEditTouchesOnlyTargetLines(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0), "token", "http://127.0.0.1:8471/x", false)
		f.Add([]byte(s), uint8(1), "auth_type", "metadata-service", true)
		f.Add([]byte(s), uint8(2), "host", "a #b", false)
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8, key, value string, del bool) {
		orig := Parse(data)
		sections := orig.Sections()
		if len(orig.Problems()) > 0 || len(sections) == 0 {
			return
		}
		section := sections[int(pick)%len(sections)]
		if keys := keysOf(orig, section); len(keys) > 0 && pick&0x80 != 0 {
			key = keys[int(pick)%len(keys)] // mostly edit keys that exist
		}
		g := Parse(data)
		var before, after [][]byte
		for _, l := range orig.lines {
			before = append(before, l.raw)
		}
		if del {
			g.Delete(section, key)
			for _, l := range g.lines {
				after = append(after, l.raw)
			}
			var want [][]byte
			for _, l := range orig.lines {
				if !((l.kind == Entry || l.kind == Continued) && l.section == section && l.key == key) {
					want = append(want, l.raw)
				}
			}
			if !reflect.DeepEqual(after, want) {
				t.Fatalf("Delete(%q, %q) changed other lines:\n%q\n->\n%q", section, key, data, g.Bytes())
			}
		} else {
			if err := g.Set(section, key, value); err != nil {
				if !bytes.Equal(g.Bytes(), data) {
					t.Fatal("a failed Set changed the file")
				}
				return
			}
			for _, l := range g.lines {
				after = append(after, l.raw)
			}
			at, anchor := -1, -1
			for i, l := range orig.lines {
				if l.section != section {
					continue
				}
				switch {
				case l.kind == Entry && l.key == key:
					at = i
				case l.kind == Entry:
					anchor = l.last
				case l.kind == Header:
					anchor = i
				}
			}
			switch {
			case at >= 0 && orig.lines[at].value == value:
				if !bytes.Equal(g.Bytes(), data) {
					t.Fatal("setting the current value changed the file")
				}
			case at >= 0:
				last := orig.lines[at].last
				ok := len(after) == len(before)-(last-at) &&
					reflect.DeepEqual(after[:at], before[:at]) && reflect.DeepEqual(after[at+1:], before[last+1:])
				if !ok {
					t.Fatalf("Set(%q, %q) in place changed other lines:\n%q\n->\n%q", section, key, data, g.Bytes())
				}
			default:
				n := anchor + 1 // where the new line goes
				ok := len(after) == len(before)+1 && reflect.DeepEqual(after[n+1:], before[n:])
				if anchor >= 0 {
					ok = ok && reflect.DeepEqual(after[:anchor], before[:anchor])
					// The anchor may only gain the line ending it lacked.
					gained := after[anchor][min(len(before[anchor]), len(after[anchor])):]
					ok = ok && bytes.HasPrefix(after[anchor], before[anchor]) &&
						(len(gained) == 0 || len(eol(before[anchor])) == 0 && (string(gained) == "\n" || string(gained) == "\r\n"))
				}
				if !ok {
					t.Fatalf("Set(%q, %q) insert changed other lines:\n%q\n->\n%q", section, key, data, g.Bytes())
				}
			}
		}
		// Every other value reads the same, and the SDK agrees.
		want := ourRead(orig)
		if del {
			delete(want[section], key)
		} else {
			want[section][key] = value
		}
		if got := ourRead(g); !reflect.DeepEqual(got, want) {
			t.Fatalf("values after the edit:\n got %q\nwant %q\ninput %q\noutput %q", got, want, data, g.Bytes())
		}
		checkAgainstSDK(t, g.Bytes())
	})
}

func keysOf(f *File, section string) []string {
	var out []string
	for k := range f.Values(section) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
