package safesocket

import "testing"

func TestPath(t *testing.T) {
	env := map[string]string{"LOCALAPPDATA": `C:\Users\u\AppData\Local`}
	getenv := func(k string) string { return env[k] }
	if got, want := Path(getenv), `C:\Users\u\AppData\Local\dbx-cred\agent.sock`; got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	env["DBX_CRED_SOCKET"] = `D:\s.sock`
	if got, want := Path(getenv), `D:\s.sock`; got != want {
		t.Errorf("Path() with override = %q, want %q", got, want)
	}
	if got, want := Target(`C:\a b\s.sock`), `unix:C:\a b\s.sock`; got != want {
		t.Errorf("Target() = %q, want %q", got, want)
	}
}
