//go:build !linux

package bench

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"
)

// epollLoad needs Linux's epoll; the benchmarks skip elsewhere, and this
// only keeps them compiling.
type epollLoad struct {
	socket string
	conns  int
	method string
	req    proto.Message
	check  func(msg []byte) error
}

func (l *epollLoad) run(int, time.Duration) ([]time.Duration, error) {
	return nil, errors.New("the epoll load generator needs Linux")
}
