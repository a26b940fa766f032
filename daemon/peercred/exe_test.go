package peercred

import (
	"os"
	"runtime"
	"testing"
)

func TestExe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	self, _ := os.Executable()
	if got := Exe(os.Getpid()); got != self {
		t.Fatalf("Exe(self) = %q, want %q", got, self)
	}
	if Exe(0) != "" {
		t.Fatal("Exe(0) should be empty")
	}
}
