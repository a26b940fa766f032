package peercred

// unknownPeerAllowed is false: Linux always reports a Unix-socket peer, so
// not knowing it means something is wrong and the call is refused.
const unknownPeerAllowed = false
