package core

import (
	"context"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
)

// Status is the daemon as dbx-cred status shows it.
type Status struct {
	Info
	Store StoreInfo
	// Backend is the store's backend with its state when that is not
	// "serving", for helpers that print only it.
	Backend  string
	Profiles []profiles.Profile
	Orphans  []profiles.Orphan
}

// Status describes the daemon, its store and every profile.
func (s *Service) Status(ctx context.Context) Status {
	st := s.stores.Info(ctx)
	backend := st.Backend
	switch {
	case st.Locked:
		backend += ", locked: run dbx-cred unlock"
	case !st.Reachable:
		backend += ", unreachable: see dbx-cred daemon status"
	}
	return Status{Info: s.withMetadataState(s.info), Store: st, Backend: backend, Profiles: s.profiles.List(), Orphans: s.profiles.Orphans()}
}
