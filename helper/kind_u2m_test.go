package helper

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// A U2M profile reads as oauth-u2m in list, status and audit, text and
// JSON, as oauth-m2m does for a service principal; status shows its
// access token's expiry and its last refresh error.
func TestU2MKindInListStatusAudit(t *testing.T) {
	f := newFakeDaemon(t)
	expiry := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.with(func(f *fakeDaemon) {
		f.profiles = []*pb.Profile{
			{Name: "me", Host: "https://adb-1.azuredatabricks.net", UserName: "someone@example.com", Kind: pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M,
				State: pb.ProfileState_PROFILE_STATE_READY, CurrentExpiry: timestamppb.New(expiry), LastError: "invalid_grant: Refresh token is invalid"},
			{Name: "ci", Host: "https://adb-1.azuredatabricks.net", Kind: pb.CredentialKind_CREDENTIAL_KIND_OAUTH_M2M, State: pb.ProfileState_PROFILE_STATE_READY},
		}
		f.audit = []*pb.AuditEvent{
			{Time: timestamppb.Now(), Profile: "me", Kind: pb.TokenKind_TOKEN_KIND_OAUTH},
			{Time: timestamppb.Now(), Profile: "ci", Kind: pb.TokenKind_TOKEN_KIND_OAUTH_M2M},
		}
	})
	out, errOut, code := f.run("", nil, "list")
	if code != exitOK || !strings.Contains(out, "me       oauth-u2m") || !strings.Contains(out, "ci       oauth-m2m") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = f.run("", nil, "list", "-o", "json")
	var list []profileJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0].Kind != "oauth-u2m" || list[0].Mode != "" {
		t.Fatalf("list json (%v): %s", err, out)
	}
	out, errOut, code = f.run("", nil, "status", "-p", "me")
	if code != exitOK || !strings.Contains(out, "profile me (oauth-u2m, someone@example.com) ready") ||
		!strings.Contains(out, "current expires: "+expiry.Local().Format(time.RFC3339)) || !strings.Contains(out, "last error:      invalid_grant") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = f.run("", nil, "status", "-o", "json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Profiles) != 2 || st.Profiles[0].Kind != "oauth-u2m" ||
		st.Profiles[0].CurrentExpiry == nil || st.Profiles[0].LastError == "" {
		t.Fatalf("status json (%v): %s", err, out)
	}
	out, _, _ = f.run("", nil, "audit")
	if !strings.Contains(out, "KIND") || !strings.Contains(out, " oauth-u2m ") || !strings.Contains(out, " oauth-m2m ") {
		t.Fatalf("audit:\n%s", out)
	}
	out, _, _ = f.run("", nil, "audit", "-o", "json")
	var audit []auditJSON
	if err := json.Unmarshal([]byte(out), &audit); err != nil || len(audit) != 2 || audit[0].Kind != "oauth-u2m" || audit[1].Kind != "oauth-m2m" {
		t.Fatalf("audit json (%v): %s", err, out)
	}
}
