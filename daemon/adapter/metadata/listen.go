package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/atomicfile"
)

// StateFile is the name of the file, next to the profile registry, that
// remembers the port the metadata service chose. The metadata URLs that
// dbx-cred hands out (and that dbx-cred import writes into .databrickscfg)
// contain the port, so it must not move between restarts. The file holds
// only an address: no secret.
const StateFile = "metadata-listen.json"

// BindConfig says how to choose the metadata listener's address.
type BindConfig struct {
	// Listen is the --metadata-listen value. "" is automatic: the
	// remembered port, else Preferred, else any free port, remembered.
	// A port of 0 is the same without trying Preferred. Any other port is
	// taken as given and neither read from nor written to the state file.
	// "off" must be handled by the caller.
	Listen string
	// Preferred is the automatic choice's first try (DefaultListen).
	Preferred string
	// StatePath is where the chosen address is remembered (StateFile).
	StatePath string
}

// Bind opens the metadata listener as cfg says. Its error names the address,
// why it could not be had, and what to do; the daemon then runs without the
// metadata service rather than not at all.
func Bind(cfg BindConfig, log *slog.Logger) (net.Listener, error) {
	auto := strings.TrimSpace(cfg.Listen) == ""
	addr, _, err := ParseListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	if !auto && !strings.HasSuffix(addr, ":0") {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s (%s %s): %v; free the port, choose another with %s 127.0.0.1:PORT, leave the flag out to get a port chosen once and remembered, or turn the service off with %s off",
				addr, ListenFlag, addr, unwrapOp(err), ListenFlag, ListenFlag)
		}
		return ln, nil
	}

	remembered, err := loadState(cfg.StatePath)
	if err != nil {
		log.Warn("ignoring the remembered metadata port: the file cannot be read; choosing again", "state", cfg.StatePath, "err", err)
	}
	if remembered != "" {
		ln, err := net.Listen("tcp4", remembered)
		if err != nil {
			// Moving would break every URL already handed out: say so
			// instead, and how to get out of it either way.
			return nil, fmt.Errorf("cannot listen on %s, the port remembered in %s: %v; the metadata URLs dbx-cred handed out point at it, so dbx-credd does not move elsewhere: free the port (another program or another user's dbx-credd holds it) and restart dbx-credd, or remove %s and restart to choose a new port (then run dbx-cred metadata-url or dbx-cred import again for new URLs)",
				remembered, cfg.StatePath, unwrapOp(err), cfg.StatePath)
		}
		log.Debug("metadata service on its remembered port", "addr", remembered, "state", cfg.StatePath)
		return ln, nil
	}

	const free = "127.0.0.1:0"
	try := free
	if auto {
		try = cfg.Preferred
	}
	ln, err := net.Listen("tcp4", try)
	if err != nil && try != free {
		log.Warn("the default metadata port is taken (another program or another user's dbx-credd holds it): choosing a free port",
			"addr", try, "err", unwrapOp(err))
		ln, err = net.Listen("tcp4", free)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %v; choose a port with %s 127.0.0.1:PORT, or turn the service off with %s off", try, unwrapOp(err), ListenFlag, ListenFlag)
	}
	chosen := ln.Addr().String()
	if err := saveState(cfg.StatePath, chosen); err != nil {
		log.Warn("could not remember the metadata port: it may change at the next start, and URLs with it", "addr", chosen, "state", cfg.StatePath, "err", err)
	} else {
		log.Info("metadata service port chosen and remembered for later starts", "addr", chosen, "state", cfg.StatePath)
	}
	return ln, nil
}

// unwrapOp drops net.OpError's "listen tcp4 127.0.0.1:8471:" prefix, which
// the messages above already say better.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// state is the state file's content; the version lets later releases
// change it.
type state struct {
	Version int    `json:"version"`
	Listen  string `json:"listen"`
}

// loadState returns the remembered address, "" when there is none.
func loadState(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%s is not valid JSON (%v)", path, err)
	}
	addr, off, err := ParseListen(s.Listen)
	if err != nil || off || strings.HasSuffix(addr, ":0") || s.Listen == "" {
		return "", fmt.Errorf("%s does not hold a 127.0.0.1:PORT address (%q)", path, s.Listen)
	}
	return addr, nil
}

// saveState writes the state file atomically, 0600, so a crash leaves the
// old file or the new one.
func saveState(path, addr string) error {
	b, err := json.MarshalIndent(state{Version: 1, Listen: addr}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}
