package manage

import (
	"context"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

func TestProbeWriteLeavesNothing(t *testing.T) {
	mem := store.NewMemory()
	s := &Stores{main: store.NewSwitch(mem)}
	if err := s.ProbeWrite(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys, _ := mem.List(context.Background()); len(keys) != 0 {
		t.Fatalf("the probe left %v", keys)
	}
}
