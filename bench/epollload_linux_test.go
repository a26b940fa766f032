package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// h2conn is one connection's state in the loop.
type h2conn struct {
	fd      int
	store   []byte // buf's backing array, reused
	buf     []byte // read but not yet parsed
	dec     *hpack.Decoder
	stream  uint32 // the stream of the call in flight
	started time.Time
	gotMsg  bool
	status  string // grpc-status of the call in flight
	http    string // :status of the call in flight
	unacked uint32 // DATA bytes since the last connection WINDOW_UPDATE
	busy    bool
}

const loadWindow = 1 << 20

// run makes total calls and returns their latencies, in completion order.
func (l *epollLoad) run(total int, timeout time.Duration) ([]time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	first, later, err := l.requests()
	if err != nil {
		return nil, err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(ep)
	cs := make([]*h2conn, l.conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				unix.Close(c.fd)
			}
		}
	}()
	var preface []byte
	preface = append(preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	preface = append(preface, frameBytes(0x4, 0, 0, nil)...) // SETTINGS
	preface = append(preface, frameBytes(0x8, 0, 0, binary.BigEndian.AppendUint32(nil, loadWindow-65535))...)
	for i := range cs {
		fd, err := dialUnix(l.socket)
		if err != nil {
			return nil, err
		}
		// stream: the first send makes it 1.
		c := &h2conn{fd: fd, store: make([]byte, 64<<10), dec: hpack.NewDecoder(4096, nil), stream: ^uint32(0)}
		c.buf = c.store[:0]
		cs[i] = c
		c.dec.SetEmitFunc(func(f hpack.HeaderField) {
			switch f.Name {
			case "grpc-status":
				c.status = f.Value
			case ":status":
				c.http = f.Value
			}
		})
		if err := writeAll(fd, preface); err != nil {
			return nil, err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}

	lat := make([]time.Duration, 0, total)
	issued := 0
	send := func(c *h2conn) error {
		c.stream += 2
		req := later
		if c.stream == 1 {
			req = first
		}
		patchStream(req, c.stream)
		c.started = time.Now()
		c.busy, c.gotMsg, c.status, c.http = true, false, "", ""
		issued++
		return writeAll(c.fd, req)
	}
	for _, c := range cs {
		if issued < total {
			if err := send(c); err != nil {
				return nil, err
			}
		}
	}

	events := make([]unix.EpollEvent, len(cs))
	deadline := time.Now().Add(timeout)
	rbuf := make([]byte, 64<<10)
	for len(lat) < total {
		if time.Now().After(deadline) {
			return lat, fmt.Errorf("%d of %d calls answered within %v", len(lat), total, timeout)
		}
		n, err := unix.EpollWait(ep, events, 1000)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return lat, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			c := cs[ev.Fd]
			m, err := unix.Read(c.fd, rbuf)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return lat, fmt.Errorf("read: %w", err)
			}
			if m == 0 {
				return lat, errors.New("the server closed a connection")
			}
			c.buf = append(c.buf, rbuf[:m]...)
			for {
				parsed, done, err := l.frame(c)
				if err != nil {
					return lat, err
				}
				if !parsed {
					break
				}
				if done {
					lat = append(lat, time.Since(c.started))
					c.busy = false
					if issued < total {
						if err := send(c); err != nil {
							return lat, err
						}
					}
				}
			}
		}
	}
	return lat, nil
}

// frame handles the first whole frame in c.buf. parsed is false when
// there is none yet; done says it completed the call in flight.
func (l *epollLoad) frame(c *h2conn) (parsed, done bool, err error) {
	if len(c.buf) < 9 {
		c.compact()
		return false, false, nil
	}
	n := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
	if len(c.buf) < 9+n {
		c.compact()
		return false, false, nil
	}
	typ, flags := c.buf[3], c.buf[4]
	sid := binary.BigEndian.Uint32(c.buf[5:9]) & 0x7fffffff
	p := c.buf[9 : 9+n]
	c.buf = c.buf[9+n:]
	switch typ {
	case 0x4: // SETTINGS
		if flags&0x1 == 0 {
			return true, false, writeAll(c.fd, frameBytes(0x4, 0x1, 0, nil))
		}
	case 0x6: // PING
		if flags&0x1 == 0 {
			return true, false, writeAll(c.fd, frameBytes(0x6, 0x1, 0, p))
		}
	case 0x8: // WINDOW_UPDATE: requests are tiny
	case 0x0: // DATA
		if c.unacked += uint32(n); c.unacked >= loadWindow/2 {
			if err := writeAll(c.fd, frameBytes(0x8, 0, 0, binary.BigEndian.AppendUint32(nil, c.unacked))); err != nil {
				return false, false, err
			}
			c.unacked = 0
		}
		if !c.busy || sid != c.stream || flags&0x8 != 0 {
			return false, false, fmt.Errorf("unexpected DATA on stream %d (flags %#x)", sid, flags)
		}
		if len(p) < 5 || p[0] != 0 || int(binary.BigEndian.Uint32(p[1:5])) != len(p)-5 {
			return false, false, errors.New("an answer that is not one whole gRPC message in one DATA frame")
		}
		if err := l.check(p[5:]); err != nil {
			return false, false, err
		}
		c.gotMsg = true
	case 0x1: // HEADERS
		if !c.busy || sid != c.stream || flags&0x4 == 0 || flags&0x28 != 0 {
			return false, false, fmt.Errorf("unexpected HEADERS on stream %d (flags %#x)", sid, flags)
		}
		if _, err := c.dec.Write(p); err != nil {
			return false, false, fmt.Errorf("undecodable headers: %w", err)
		}
		if flags&0x1 == 0 {
			return true, false, nil
		}
		if c.http != "" && c.http != "200" {
			return false, false, fmt.Errorf("HTTP status %s", c.http)
		}
		if c.status != "0" || !c.gotMsg {
			return false, false, fmt.Errorf("call failed: grpc-status %q, message received: %v", c.status, c.gotMsg)
		}
		return true, true, nil
	default:
		return false, false, fmt.Errorf("unexpected frame type %d", typ)
	}
	return true, false, nil
}

// compact moves unparsed bytes to the front of the buffer, so reads
// append to one array instead of growing new ones.
func (c *h2conn) compact() {
	if len(c.buf) > cap(c.store)/2 {
		c.store = make([]byte, 2*cap(c.store))
	}
	c.buf = append(c.store[:0], c.buf...)
}

// requests encodes the first request (its HPACK block adds every field to
// the table) and every later one (table references), as one HEADERS and
// one DATA frame each; patchStream sets their stream id.
func (l *epollLoad) requests() (first, later []byte, err error) {
	body, err := proto.Marshal(l.req)
	if err != nil {
		return nil, nil, err
	}
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body)))
	msg = append(msg, body...)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	var out [2][]byte
	for i := range out {
		hb.Reset()
		for _, f := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", l.method},
			{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
				return nil, nil, err
			}
		}
		out[i] = append(frameBytes(0x1, 0x4, 0, hb.Bytes()), frameBytes(0x0, 0x1, 0, msg)...)
	}
	return out[0], out[1], nil
}

// patchStream sets the stream id of both frames of a request.
func patchStream(req []byte, id uint32) {
	binary.BigEndian.PutUint32(req[5:9], id)
	n := int(req[0])<<16 | int(req[1])<<8 | int(req[2])
	binary.BigEndian.PutUint32(req[9+n+5:9+n+9], id)
}

func frameBytes(typ, flags byte, stream uint32, payload []byte) []byte {
	h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
	h = binary.BigEndian.AppendUint32(h, stream)
	return append(h, payload...)
}

func dialUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", path, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// writeAll writes p to a non-blocking fd, waiting out a full socket buffer.
func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		p = p[n:]
	}
	return nil
}
