package databrickscfg

import "testing"

func TestRepointReplacesTheSecretWithTheHook(t *testing.T) {
	f := Parse([]byte("[prod]\nhost = https://h\ntoken = dapi-secret\nauth_type = pat\n\n[other]\ntoken = keep\n"))
	g, err := f.Repoint("prod", "token", true, MetadataHook, "http://127.0.0.1:8471/x")
	if err != nil {
		t.Fatal(err)
	}
	want := "[prod]\nhost = https://h\nauth_type = metadata-service\nmetadata_service_url = http://127.0.0.1:8471/x\n\n[other]\ntoken = keep\n"
	if got := string(g.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if v, _ := f.Get("prod", "token"); v != "dapi-secret" {
		t.Error("Repoint changed the file it was given")
	}
	if _, err := f.Repoint("prod", "", false, CLIHook, "/usr/bin/dbx-cred"); err != nil {
		t.Fatal(err)
	}
}
