package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childAttr makes a long-lived child (bus, keyring, daemon) die with the
// benchmark binary, so an interrupted or crashed run leaves no process.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// procCPU is the user plus system CPU time pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces: count from its ")".
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14, 15 of the whole line
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// selfCPU is the user plus system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTicks are the machine-wide counters of /proc/stat's "cpu" line that
// say whether a run had the machine to itself: all time, idle time, and
// steal (time the hypervisor gave this VM's CPUs to someone else).
type cpuTicks struct{ total, idle, steal int64 }

func machineCPU() (cpuTicks, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTicks{}, fmt.Errorf("unexpected first line of /proc/stat: %q", line)
	}
	var t cpuTicks
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return cpuTicks{}, fmt.Errorf("unexpected /proc/stat: %v", err)
		}
		switch i {
		case 3, 4: // idle, iowait
			t.idle += n
		case 7:
			t.steal += n
		}
		if i < 8 { // guest time is already counted in user
			t.total += n
		}
	}
	return t, nil
}

// share is what part of the time between a and b was idle and stolen, in %.
func share(a, b cpuTicks) (idle, steal float64) {
	d := float64(b.total - a.total)
	if d <= 0 {
		return 0, 0
	}
	return 100 * float64(b.idle-a.idle) / d, 100 * float64(b.steal-a.steal) / d
}
