//go:build !linux

package bench

import (
	"errors"
	"time"
)

// run: the load generator needs Linux's epoll; the benchmarks skip
// elsewhere, and this only keeps them compiling.
func (l *epollLoad) run(int, time.Duration) ([]time.Duration, error) {
	return nil, errors.New("the epoll load generator needs Linux")
}
