// Package keyctl is the store backend of the Linux kernel keyring: no
// passphrase, no session bus, nothing on disk. Secrets live in a keyring of
// dbx-cred's own linked under the user's persistent keyring
// (KEYCTL_GET_PERSISTENT), falling back to the user keyring where the
// kernel has no persistent keyrings. They survive daemon restarts and
// logout, expire after the persistent keyring's expiry unused
// (/proc/sys/kernel/keys/persistent_keyring_expiry, 3 days by default), and
// never survive a reboot: a profile whose secret is gone then says so
// (store.ErrCleared) and keeps its registry entry. Payloads are granted to
// the keyring's possessor only (perm), which keeps out a process that just
// finds a key's id, not one of the same uid that links the persistent
// keyring as the daemon does: no more protection than the OS keyring.
package keyctl

import (
	"fmt"
	"os"
	"strings"
)

// Name is this backend's name in --store and in the registry.
const Name = "keyctl"

// DefaultRing names dbx-cred's keyring under the persistent one. Tests use
// their own, so they never touch a real user's secrets (the kernel keyring
// is shared by every process of the uid).
const DefaultRing = "dbx-cred"

// Available says whether this kernel has keyrings at all (containers and
// WSL1 may not), with the reason when it has none.
func Available() (bool, string) {
	if _, err := os.Stat("/proc/keys"); err != nil {
		return false, "this kernel shows no /proc/keys: it has no key retention service (CONFIG_KEYS), or a container hides it"
	}
	return true, ""
}

// quotaNote reads the per-user key quota for messages.
func quotaNote() string {
	b, err := os.ReadFile("/proc/sys/kernel/keys/maxbytes")
	k, err2 := os.ReadFile("/proc/sys/kernel/keys/maxkeys")
	if err != nil || err2 != nil {
		return "the per-user key quota"
	}
	if os.Getuid() == 0 {
		b, _ = os.ReadFile("/proc/sys/kernel/keys/root_maxbytes")
		k, _ = os.ReadFile("/proc/sys/kernel/keys/root_maxkeys")
	}
	return fmt.Sprintf("the per-user key quota (%s bytes, %s keys; usage in /proc/key-users)", strings.TrimSpace(string(b)), strings.TrimSpace(string(k)))
}
