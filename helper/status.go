package helper

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const statusHelp = `
Shows whether dbx-credd runs, where, and how: version, pid, socket, keyring
backend, registry file, number of profiles, and whether the process is
hardened against core dumps and debugger attach.`

type statusJSON struct {
	Version        string    `json:"version"`
	PID            int64     `json:"pid"`
	Started        time.Time `json:"started"`
	Socket         string    `json:"socket"`
	KeyringBackend string    `json:"keyring_backend"`
	RegistryPath   string    `json:"registry_path"`
	Profiles       int32     `json:"profiles"`
	Hardened       bool      `json:"hardened"`
}

func runStatus(c *cli, args []string) error {
	fs := c.flags("status", "[--json]", statusHelp)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	var r *pb.StatusResponse
	err := c.call(10*time.Second, func(ctx context.Context, client pb.AgentServiceClient) error {
		var err error
		r, err = client.Status(ctx, &pb.StatusRequest{})
		return err
	})
	if err != nil {
		return err
	}
	s := statusJSON{r.GetVersion(), r.GetPid(), r.GetStarted().AsTime(), r.GetSocket(),
		r.GetKeyringBackend(), r.GetRegistryPath(), r.GetProfileCount(), r.GetHardened()}
	if *asJSON {
		enc := json.NewEncoder(c.io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(c.io.Stdout, "dbx-credd %s, pid %d, up since %s\n", s.Version, s.PID, s.Started.Local().Format(time.RFC3339))
	fmt.Fprintf(c.io.Stdout, "socket:    %s\nkeyring:   %s\nregistry:  %s\nprofiles:  %d\nhardened:  %v\n",
		s.Socket, s.KeyringBackend, s.RegistryPath, s.Profiles, s.Hardened)
	return nil
}
