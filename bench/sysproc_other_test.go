//go:build !linux

package bench

import (
	"errors"
	"syscall"
	"time"
)

// childAttr, procCPU, selfCPU: the benchmarks skip off Linux; these only
// keep them compiling.
func childAttr() *syscall.SysProcAttr { return nil }

func procCPU(int) (time.Duration, error) { return 0, errors.New("needs /proc") }

func selfCPU() time.Duration { return 0 }

type cpuTicks struct{}

func machineCPU() (cpuTicks, error) { return cpuTicks{}, errors.New("needs /proc") }

func share(a, b cpuTicks) (idle, steal float64) { return 0, 0 }
