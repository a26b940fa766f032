//go:build !linux

package testworld

import "syscall"

// childAttr: Pdeathsig is Linux's; elsewhere the children are stopped by
// the stop functions only.
func childAttr() *syscall.SysProcAttr { return nil }
