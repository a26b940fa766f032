//go:build !linux

package tcppeer

import "net/netip"

func lookup(netip.AddrPort, netip.AddrPort) (Peer, error) { return Peer{}, ErrUnsupported }

func findPID(Peer) int { return 0 }
