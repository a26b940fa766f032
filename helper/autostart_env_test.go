//go:build unix

package helper

import (
	"slices"
	"testing"
)

func TestDaemonEnvIsAnAllowList(t *testing.T) {
	in := []string{
		"HOME=/h", "USER=u", "LOGNAME=u", "PATH=/bin", "TMPDIR=/t", "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=C",
		"XDG_RUNTIME_DIR=/run/user/1", "XDG_STATE_HOME=/s", "DBUS_SESSION_BUS_ADDRESS=unix:path=/b",
		"HTTP_PROXY=a", "http_proxy=a", "HTTPS_PROXY=b", "https_proxy=b", "NO_PROXY=c", "no_proxy=c", "ALL_PROXY=d", "all_proxy=d",
		"SSL_CERT_FILE=/c", "SSL_CERT_DIR=/d", "DBX_CRED_SOCKET=/s.sock", "DBX_CRED_METADATA_LISTEN=127.0.0.1:0",
		"ACTIONS_ID_TOKEN_REQUEST_URL=https://gh/x?a=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=t", "SYSTEM_ACCESSTOKEN=a", "SYSTEM_PLANID=p",
		"DATABRICKS_OIDC_TOKEN=jwt",
	}
	dropped := []string{
		"GODEBUG=x=1", "GOGC=off", "GOCOVERDIR=/cov", "FOO=bar", "DBX_CRED_TEST_CRASH_AT=after-mint",
		"DATABRICKS_TOKEN=dapi-not-for-the-daemon", "AWS_SECRET_ACCESS_KEY=s", "LD_PRELOAD=/evil.so",
		"Home=/case", "=C:=C:\\", "NOEQUALS",
	}
	got := daemonEnv(append(slices.Clone(in), dropped...))
	if !slices.Equal(got, in) {
		t.Errorf("daemonEnv kept\n%q\nwant\n%q", got, in)
	}
}
