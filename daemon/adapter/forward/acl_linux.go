package forward

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// POSIX ACL entries as the kernel reads them from the
// system.posix_acl_access attribute (linux/posix_acl_xattr.h).
const (
	aclVersion  = 2
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclMask     = 0x10
	aclOther    = 0x20
	aclUndefID  = 0xffffffff
)

// allowUID lets uid, and no one else, enter dir (search only, no
// listing) and connect to the socket at sock (read and write): a POSIX
// ACL, since the mode bits can only open a file to a group or to all.
func allowUID(dir, sock string, uid int) error {
	if err := setACL(dir, 7, 1, uid); err != nil {
		return fmt.Errorf("let uid %d into %s (a POSIX ACL; does the file system support them?): %w", uid, dir, err)
	}
	if err := setACL(sock, 6, 6, uid); err != nil {
		return fmt.Errorf("let uid %d connect to %s (a POSIX ACL): %w", uid, sock, err)
	}
	return nil
}

// setACL gives path the ACL owner:ownerPerm, user uid:userPerm, and
// nothing for group and others.
func setACL(path string, ownerPerm, userPerm uint16, uid int) error {
	b := make([]byte, 0, 4+5*8)
	b = binary.LittleEndian.AppendUint32(b, aclVersion)
	entry := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	entry(aclUserObj, ownerPerm, aclUndefID)
	entry(aclUser, userPerm, uint32(uid))
	entry(aclGroupObj, 0, aclUndefID)
	entry(aclMask, userPerm, aclUndefID)
	entry(aclOther, 0, aclUndefID)
	return unix.Setxattr(path, "system.posix_acl_access", b, 0)
}
