//go:build !linux

package bench

import "syscall"

// childAttr: the benchmarks skip off Linux; this only keeps them compiling.
func childAttr() *syscall.SysProcAttr { return nil }
