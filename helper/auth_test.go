package helper

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/semver"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// localRFC3339Micro is the expiry format the SDKs need: numeric offset (never
// "Z", which the Python SDK misreads) and a fraction.
var localRFC3339Micro = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$`)

func authToken(t *testing.T, f *fakeDaemon, args ...string) cliToken {
	t.Helper()
	out, errOut, code := f.run("", nil, append([]string{"auth", "token"}, args...)...)
	if code != 0 {
		t.Fatalf("auth token %v: %d %s", args, code, errOut)
	}
	var tok cliToken
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tok); err != nil {
		t.Fatalf("auth token %v printed %q: %v", args, out, err)
	}
	return tok
}

func TestAuthTokenPrintsTheCLIJSON(t *testing.T) {
	f := newFakeDaemon(t)
	exp := time.Now().Add(50 * time.Minute).Truncate(time.Microsecond)
	f.add("prod", "https://adb-1.azuredatabricks.net", "dapiPROD", &pb.GetTokenResponse{Expiry: timestamppb.New(exp)})
	f.add("static", "https://adb-2.azuredatabricks.net", "dapiSTATIC", nil)

	tok := authToken(t, f, "--profile", "prod")
	if tok.AccessToken != "dapiPROD" || tok.TokenType != "Bearer" || !localRFC3339Micro.MatchString(tok.Expiry) {
		t.Fatalf("got %+v", tok)
	}
	got, err := time.Parse(time.RFC3339Nano, tok.Expiry)
	if err != nil || !got.Equal(exp) {
		t.Fatalf("expiry %q is not %v: %v", tok.Expiry, exp, err)
	}
	if _, off := got.Zone(); off != func() int { _, o := exp.Local().Zone(); return o }() {
		t.Fatalf("expiry %q is not in local time", tok.Expiry)
	}
	if tok.ExpiresIn < 49*60 || tok.ExpiresIn > 50*60 {
		t.Fatalf("expires_in %d", tok.ExpiresIn)
	}

	// A token that never expires is reported as expiring in an hour.
	tok = authToken(t, f, "--host", "https://adb-2.azuredatabricks.net")
	got, _ = time.Parse(time.RFC3339Nano, tok.Expiry)
	if tok.AccessToken != "dapiSTATIC" || time.Until(got) < 59*time.Minute || time.Until(got) > time.Hour || tok.ExpiresIn < 3590 {
		t.Fatalf("static: %+v", tok)
	}
	r := f.requests()
	if r[0].GetProfile() != "prod" || r[1].GetHost() != "https://adb-2.azuredatabricks.net" || r[1].GetProfile() != "" {
		t.Fatalf("requests: %v", r)
	}
	for _, req := range r {
		if req.GetChannel() != pb.Channel_CHANNEL_CLI || req.GetForceRefresh() {
			t.Fatalf("request %v", req)
		}
	}
}

func TestAuthTokenForceRefreshOnlyInsideTheSDKWindow(t *testing.T) {
	f := newFakeDaemon(t)
	life := durationpb.New(time.Hour)
	f.add("fresh", "https://a", "dapiA", &pb.GetTokenResponse{Expiry: timestamppb.New(time.Now().Add(45 * time.Minute)),
		Profile: &pb.Profile{TokenLifetime: life}})
	f.add("due", "https://b", "dapiB", &pb.GetTokenResponse{Expiry: timestamppb.New(time.Now().Add(10 * time.Minute)),
		Profile: &pb.Profile{TokenLifetime: life}})
	// A 10-minute lifetime: the SDK refreshes 5 minutes before expiry.
	f.add("short", "https://c", "dapiC", &pb.GetTokenResponse{Expiry: timestamppb.New(time.Now().Add(7 * time.Minute)),
		Profile: &pb.Profile{TokenLifetime: durationpb.New(10 * time.Minute)}})
	f.add("static", "https://d", "dapiD", nil)

	for _, c := range []struct {
		profile string
		forced  bool
	}{{"fresh", false}, {"due", true}, {"short", false}, {"static", false}} {
		before := len(f.requests())
		authToken(t, f, "--profile", c.profile, "--force-refresh")
		r := f.requests()[before:]
		forced := len(r) == 2 && r[1].GetForceRefresh()
		if forced != c.forced || len(r) > 2 || r[0].GetForceRefresh() {
			t.Errorf("%s: requests %v, want forced=%v", c.profile, r, c.forced)
		}
	}
}

func TestAuthTokenErrorsGoToStderr(t *testing.T) {
	f := newFakeDaemon(t)
	out, errOut, code := f.run("", nil, "auth", "token", "--profile", "nope")
	if code != exitNoProfile || out != "" || !strings.Contains(errOut, "unknown profile") {
		t.Fatalf("unknown profile: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := f.run("", nil, "auth", "token", "-p", "a", "--host", "https://b"); code != exitUsage || !strings.Contains(errOut, "not both") {
		t.Fatalf("both: %d %q", code, errOut)
	}
	if _, _, code := f.run("", nil, "auth", "login"); code != exitUsage {
		t.Fatalf("auth login: %d", code)
	}
}

// TestVersionParsesAsTheSDKDoes mirrors databricks-sdk-go's parseCliVersion:
// trim, strip "Databricks CLI ", semver.IsValid, and compare with the
// versions that enable --profile and --force-refresh.
func TestVersionParsesAsTheSDKDoes(t *testing.T) {
	f := newFakeDaemon(t)
	out, _, code := f.run("", nil, "version")
	v := strings.TrimPrefix(strings.TrimSpace(out), "Databricks CLI ")
	if code != 0 || !semver.IsValid(v) || semver.Compare(v, "v0.296.0") < 0 || !strings.Contains(v, "dbx-cred") {
		t.Fatalf("version printed %q", out)
	}
	for in, want := range map[string]string{"dev": "dev", "v1.2.3-rc1+dirty": "v1.2.3-rc1-dirty", "1.4.0": "1.4.0", "..": "unknown", "a..b": "a.b", "": "unknown"} {
		got := semverBuild(in)
		if got != want || !semver.IsValid("v0.296.0+"+got) {
			t.Errorf("semverBuild(%q) = %q, want %q (valid: %v)", in, got, want, semver.IsValid("v0.296.0+"+got))
		}
	}
}

// An unknown profile whose name came from DATABRICKS_CONFIG_PROFILE says
// so: the user may not know the variable is set.
func TestUnknownProfileFromTheEnvironmentSaysSo(t *testing.T) {
	f := newFakeDaemon(t)
	env := map[string]string{"DATABRICKS_CONFIG_PROFILE": "nope"}
	_, errOut, code := f.run("", env, "token")
	if code != exitNoProfile || !strings.Contains(errOut, `the name "nope" came from DATABRICKS_CONFIG_PROFILE`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if _, errOut, _ = f.run("", env, "token", "-p", "nope"); strings.Contains(errOut, "DATABRICKS_CONFIG_PROFILE") {
		t.Fatalf("-p given: %q", errOut)
	}
}

// The Databricks CLI's auth commands, typed from habit, run ours.
func TestAuthAliasesRunOurCommands(t *testing.T) {
	f := newFakeDaemon(t)
	f.profiles = []*pb.Profile{{Name: "prod", Host: "https://adb-1.azuredatabricks.net", State: pb.ProfileState_PROFILE_STATE_READY}}
	if out, errOut, code := f.run("", nil, "auth", "profiles"); code != 0 || !strings.Contains(out, "prod") {
		t.Errorf("auth profiles: exit %d, %q %q", code, out, errOut)
	}
	if _, _, code := f.run(testPAT+"\n", nil, "auth", "login", "-p", "dev", "--host", "https://adb-2.azuredatabricks.net", "--static"); code != 0 || len(f.loginRequests()) != 1 {
		t.Errorf("auth login: exit %d, requests %v", code, f.loginRequests())
	}
	if _, errOut, code := f.run("", nil, "auth", "describe"); code != exitUsage || !strings.Contains(errOut, "login, logout, list, env, status") {
		t.Errorf("auth describe: exit %d, %q", code, errOut)
	}
}
