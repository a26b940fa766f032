package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Memory is a Store in process memory, for unit tests of logic above the
// store. Secrets vanish with the process: never use it in the daemon.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{m: map[string]string{}} }

// Backend implements Store.
func (m *Memory) Backend() string { return "memory" }

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key]
	if !ok {
		return "", fmt.Errorf("read %q: %w", key, ErrNotFound)
	}
	return s, nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key, secret string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = secret
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[key]; !ok {
		return fmt.Errorf("delete %q: %w", key, ErrNotFound)
	}
	delete(m.m, key)
	return nil
}

// List implements Lister.
func (m *Memory) List(ctx context.Context) ([]string, error) { return m.Keys(), ctx.Err() }

// Keys lists the keys held, sorted: tests assert what the store holds.
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.m))
	for k := range m.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
