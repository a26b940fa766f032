package hosturl

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	good := map[string]string{
		"adb-123.azuredatabricks.net":               "https://adb-123.azuredatabricks.net",
		"https://adb-123.azuredatabricks.net/":      "https://adb-123.azuredatabricks.net",
		"  HTTPS://Adb-123.AzureDatabricks.net//  ": "https://adb-123.azuredatabricks.net",
		"https://dbc-1.cloud.databricks.com:443":    "https://dbc-1.cloud.databricks.com",
		"http://127.0.0.1:8080":                     "http://127.0.0.1:8080",
		"http://localhost:80/":                      "http://localhost",
		"https://[::1]:8443":                        "https://[::1]:8443",
		"my-ws.cloud.databricks.com:8443":           "https://my-ws.cloud.databricks.com:8443",
	}
	for in, want := range good {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                    "no workspace host",
		"ftp://example.com":                   "scheme",
		"https://example.com/api/2.0":         "path",
		"https://user:pw@example.com":         "user name",
		"https://example.com?o=1":             "query",
		"https://exa mple.com":                "not",
		"https://$(touch /tmp/x).example.com": "not",
		"https://example.com:99999":           "port",
		"https://-bad-.example.com":           "host name",
	}
	for in, want := range bad {
		_, err := Normalize(in)
		if err == nil {
			t.Errorf("Normalize(%q) accepted a bad host", in)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), Example) {
			t.Errorf("Normalize(%q) error %q should mention %q and the example", in, err, want)
		}
	}
}

func TestCheckTransport(t *testing.T) {
	for _, tt := range []struct {
		host     string
		insecure bool
		ok       bool
	}{
		{"https://adb-1.azuredatabricks.net", false, true},
		{"https://10.0.0.5:8443", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.8.9.10", false, true}, // all of 127.0.0.0/8
		{"http://[::1]:8080", false, true},
		{"http://localhost:3000", false, true},
		{"http://adb-1.azuredatabricks.net", false, false},
		{"http://10.0.0.5:8080", false, false},
		{"http://128.0.0.1", false, false},
		{"http://[::2]", false, false},
		{"http://localhost.evil.example", false, false},
		{"http://adb-1.azuredatabricks.net", true, true},
		{"http://10.0.0.5:8080", true, true},
	} {
		err := CheckTransport(tt.host, tt.insecure)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTransport(%q, %v) = %v, want ok %v", tt.host, tt.insecure, err, tt.ok)
		}
	}
	err := CheckTransport("http://adb-1.azuredatabricks.net", false)
	for _, want := range []string{"http://adb-1.azuredatabricks.net", "unencrypted", "use https://adb-1.azuredatabricks.net", "--insecure-http"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
