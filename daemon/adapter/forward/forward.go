// Package forward is the forwarding-socket adapter: second sockets, one
// per "dbx-cred forward", that lend tokens for some profiles to another
// machine (over ssh -R) or a container, and refuse everything else. It is
// gpg-agent's extra-socket for dbx-credd. Each forward is a gRPC server
// over the core with grpcapi's scoped view and allow-list; this package
// owns the sockets, their lifetimes and their counters.
package forward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/dbx-cred/dbx-cred/daemon/adapter/grpcapi"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// MaxForwards bounds the live forwards: each is a listener and a server.
const MaxForwards = 64

// Manager owns the live forwards. Serve must be called before the core
// can reach Create (the core is built with the Manager, then served).
type Manager struct {
	dir string // the daemon's private socket directory
	uid int
	log *slog.Logger

	mu     sync.Mutex
	svc    *core.Service
	fwds   map[string]*fwd // by label
	closed bool
}

type fwd struct {
	info  core.ForwardInfo // immutable after Create
	ln    net.Listener
	g     *grpc.Server
	dir   string // a directory made for this forward (--allow-uid), removed with it
	timer *time.Timer
	calls atomic.Int64
	conns atomic.Int32
}

// New returns a Manager making its sockets in dir (mode 0700, the main
// socket's) and serving uid.
// Socket files a killed daemon left there are removed: the caller holds
// the main socket, so no other daemon serves them.
func New(dir string, uid int, log *slog.Logger) *Manager {
	stale, _ := filepath.Glob(filepath.Join(dir, "fwd-*.sock"))
	for _, p := range stale {
		os.Remove(p)
	}
	return &Manager{dir: dir, uid: uid, log: log, fwds: map[string]*fwd{}}
}

// Serve gives the manager the core its forwards serve.
func (m *Manager) Serve(svc *core.Service) {
	m.mu.Lock()
	m.svc = svc
	m.mu.Unlock()
}

// Create makes a forward for spec, which the core has checked.
func (m *Manager) Create(_ context.Context, spec core.ForwardSpec) (core.ForwardInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return core.ForwardInfo{}, errkind.New(errkind.Canceled, "dbx-credd is stopping")
	case m.svc == nil:
		return core.ForwardInfo{}, errors.New("forward.Manager: Create before Serve")
	case len(m.fwds) >= MaxForwards:
		return core.ForwardInfo{}, errkind.New(errkind.Busy, fmt.Sprintf("%d forwards are live, the most one dbx-credd keeps: revoke some (dbx-cred forward --list, --revoke LABEL)", MaxForwards))
	}
	label := m.uniqueLabel(spec.Label)
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return core.ForwardInfo{}, fmt.Errorf("make a forward's name: %w", err)
	}
	f := &fwd{}
	path := filepath.Join(m.dir, "fwd-"+hex.EncodeToString(id)+".sock")
	other := spec.AllowUID >= 0 && spec.AllowUID != m.uid // a uid besides ours
	if other {
		// The private directory keeps every other uid out; this forward
		// gets a directory of its own that only the allowed uid may
		// enter (an ACL), in the system's temporary directory.
		d, err := os.MkdirTemp("", "dbx-cred-fwd-")
		if err != nil {
			return core.ForwardInfo{}, fmt.Errorf("make the forward's directory: %w", err)
		}
		f.dir, path = d, filepath.Join(d, "agent.sock")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		m.removeDir(f)
		return core.ForwardInfo{}, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		m.removeDir(f)
		return core.ForwardInfo{}, fmt.Errorf("make %s private: %w", path, err)
	}
	uids := []int{m.uid}
	if other {
		if err := allowUID(f.dir, path, spec.AllowUID); err != nil {
			ln.Close()
			m.removeDir(f)
			return core.ForwardInfo{}, err
		}
		uids = append(uids, spec.AllowUID)
	}
	now := time.Now()
	f.info = core.ForwardInfo{Label: label, Socket: path, Profiles: spec.Profiles, Created: now, Expires: now.Add(spec.TTL), AllowUID: spec.AllowUID}
	f.ln = ln
	opts := append(grpcapi.ForwardOptions(label, uids, m.log, func() { f.calls.Add(1) }), grpc.StatsHandler(connCounter{&f.conns}), grpc.ConnectionTimeout(handshakeTimeout))
	f.g = grpc.NewServer(opts...)
	grpcapi.NewScoped(m.svc, &core.Scope{Label: label, Profiles: spec.Profiles}).Register(f.g)
	m.fwds[label] = f
	f.timer = time.AfterFunc(spec.TTL, func() {
		if _, err := m.Revoke(label); err == nil {
			m.log.Info("forward expired", "label", label)
		}
	})
	go func() {
		if err := f.g.Serve(f.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			m.log.Warn("forward stopped serving", "label", label, "err", err)
		}
	}()
	return m.infoOf(f), nil
}

// uniqueLabel is label, or label-2, label-3... when a live forward has it.
func (m *Manager) uniqueLabel(label string) string {
	if _, taken := m.fwds[label]; !taken {
		return label
	}
	for n := 2; ; n++ {
		l := fmt.Sprintf("%s-%d", label, n)
		if _, taken := m.fwds[l]; !taken {
			return l
		}
	}
}

func (m *Manager) infoOf(f *fwd) core.ForwardInfo {
	info := f.info
	info.Calls, info.Connections = f.calls.Load(), int(f.conns.Load())
	return info
}

// List describes the live forwards, oldest first.
func (m *Manager) List() []core.ForwardInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]core.ForwardInfo, 0, len(m.fwds))
	for _, f := range m.fwds {
		out = append(out, m.infoOf(f))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Revoke ends the forward with label (or socket path): its socket file
// goes, and its open connections are cut.
func (m *Manager) Revoke(label string) (core.ForwardInfo, error) {
	m.mu.Lock()
	f, ok := m.fwds[label]
	if !ok {
		for _, g := range m.fwds {
			if g.info.Socket == label {
				f, ok = g, true
			}
		}
	}
	if !ok {
		names := make([]string, 0, len(m.fwds))
		for l := range m.fwds {
			names = append(names, l)
		}
		m.mu.Unlock()
		sort.Strings(names)
		if len(names) == 0 {
			return core.ForwardInfo{}, errkind.New(errkind.NotFound, fmt.Sprintf("no forward %q: no forwards are live", label))
		}
		return core.ForwardInfo{}, errkind.New(errkind.NotFound, fmt.Sprintf("no forward %q: live forwards are %v (dbx-cred forward --list)", label, names))
	}
	delete(m.fwds, f.info.Label)
	m.mu.Unlock()
	m.stop(f)
	return m.infoOf(f), nil
}

// stop ends f: the socket file goes at once, and its server, which
// closes every connection, in the background, as Stop also waits out
// connections still in their handshake (bounded by handshakeTimeout).
func (m *Manager) stop(f *fwd) {
	f.timer.Stop()
	f.ln.Close()
	os.Remove(f.info.Socket) // the listener unlinks it; this covers a failed close
	m.removeDir(f)
	go f.g.Stop()
}

// handshakeTimeout bounds a connection's peer check and HTTP/2 preface,
// so that one that says nothing cannot hold a revoked forward's server.
const handshakeTimeout = 2 * time.Second

func (m *Manager) removeDir(f *fwd) {
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// Close ends every forward; Create fails from then on. The daemon calls
// it as it stops, so no socket file outlives it.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	all := m.fwds
	m.fwds = map[string]*fwd{}
	m.mu.Unlock()
	for _, f := range all {
		m.stop(f)
	}
}

// connCounter counts the connections open now, for --list. (Not a
// listener wrapper: the peer-credential handshake needs the *net.UnixConn.)
type connCounter struct{ n *atomic.Int32 }

func (connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.n.Add(1)
	case *stats.ConnEnd:
		c.n.Add(-1)
	}
}
