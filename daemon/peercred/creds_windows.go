package peercred

// unknownPeerAllowed is true because Windows' AF_UNIX has no SO_PEERCRED
// equivalent for the uid (a SID there). The socket lives under the user's
// %LOCALAPPDATA%, whose ACL already keeps other users from connecting, so
// refusing every unknown peer would only lock out the user.
const unknownPeerAllowed = true
