package store_test

import (
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Suite{Open: func(*testing.T) store.Store { return store.NewMemory() }})
}
