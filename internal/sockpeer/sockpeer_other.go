//go:build !linux && !darwin

package sockpeer

import "net"

// read: Windows' AF_UNIX (and the systems dbx-cred does not support) tell
// nothing about the peer.
func read(*net.UnixConn) (Cred, error) { return Cred{}, ErrUnsupported }
