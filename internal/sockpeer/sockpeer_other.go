//go:build !linux && !darwin

package sockpeer

import "net"

// Read returns ErrUnsupported: Windows' AF_UNIX (and the systems dbx-cred
// does not support) tell nothing about the peer.
func Read(*net.UnixConn) (Cred, error) { return Cred{}, ErrUnsupported }
