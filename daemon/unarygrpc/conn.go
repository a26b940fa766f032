package unarygrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/peer"
)

const (
	// window is the receive window opened for the connection and for each
	// stream, as the daemon's grpc-go server opened them: fixed, so no
	// BDP pings; requests are a few hundred bytes.
	window = 1 << 20
	// maxStreams bounds the calls in progress on one connection; the
	// helper makes one at a time.
	maxStreams = 100
	// maxRecvMessage is grpc-go's default bound on a request message.
	maxRecvMessage = 4 << 20
	// maxHeaderList bounds a request's header fields (RFC 9113 counting).
	maxHeaderList = 64 << 10
	// maxFrame is the largest frame a client may send: the default, as
	// SETTINGS_MAX_FRAME_SIZE is never raised.
	maxFrame = 16384
	// prefaceTimeout bounds how long a new connection may take to send
	// the HTTP/2 preface.
	prefaceTimeout = 10 * time.Second
	// writeTimeout bounds one flush to a client that stopped reading.
	writeTimeout = 10 * time.Second
	// drainLinger bounds how long a drained connection waits for the
	// client to close it.
	drainLinger = time.Second
)

// conn is one client connection: a reader goroutine (serve) that owns the
// framer it reads with, and a goroutine per call in progress.
type conn struct {
	srv    *Server
	nc     net.Conn
	fr     *http2.Framer   // reading; only serve uses it
	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	base   context.Context // ctx with the peer: every call's parent

	wmu  sync.Mutex // one writer at a time; guards the fields below
	bw   *bufio.Writer
	wfr  *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	running atomic.Int32 // calls whose handlers run, reset or not

	mu         sync.Mutex // guards the fields below
	cond       *sync.Cond // a window grew, a stream ended, the conn closed
	streams    map[uint32]*stream
	sendWindow int32  // what the client lets us send on the connection
	peerWindow int32  // its initial window for each new stream
	peerFrame  uint32 // its SETTINGS_MAX_FRAME_SIZE
	lastID     uint32 // the highest stream id the client opened
	recvUsed   uint32 // DATA bytes received since the last connection WINDOW_UPDATE
	draining   bool   // GOAWAY sent or received: no new streams
	started    bool   // our SETTINGS are out
	closed     bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv: s, nc: nc,
		bw:         bufio.NewWriterSize(nc, 8<<10),
		streams:    map[uint32]*stream{},
		sendWindow: 65535, peerWindow: 65535, peerFrame: maxFrame,
	}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.fr = http2.NewFramer(nil, bufio.NewReaderSize(nc, 32<<10))
	c.fr.SetMaxReadFrameSize(maxFrame)
	// DATA frames are copied out as they are read: the framer may reuse
	// them, one allocation less per call.
	c.fr.SetReuseFrames()
	c.fr.MaxHeaderListSize = maxHeaderList
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.wfr = http2.NewFramer(c.bw, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	return c
}

// serve reads the connection until it ends. It names the peer first (the
// kernel's word, for the interceptor that refuses other uids) and ends a
// connection the handshake refuses before reading any of it.
func (c *conn) serve() {
	defer c.close()
	ai, err := c.srv.handshake(c.nc)
	if err != nil {
		c.srv.log.Warn("refused a connection on the socket", "err", err)
		return
	}
	c.base = peer.NewContext(c.ctx, &peer.Peer{Addr: c.nc.RemoteAddr(), LocalAddr: c.nc.LocalAddr(), AuthInfo: ai})
	if !c.readPreface() {
		return
	}
	// Under c.mu, so that goAway sees either no SETTINGS or SETTINGS out.
	c.mu.Lock()
	c.started = true
	c.write(func() error {
		c.wfr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: maxStreams},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: window},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderList})
		return c.wfr.WriteWindowUpdate(0, window-65535)
	})
	c.mu.Unlock()
	for {
		f, err := c.fr.ReadFrame()
		if err == nil {
			err = c.onFrame(f)
		}
		var se http2.StreamError
		switch {
		case err == nil:
		case errors.As(err, &se):
			// The framer's word on one stream's headers: that stream ends,
			// the connection goes on (its later frames are for a closed
			// stream, not an idle one).
			c.mu.Lock()
			if se.StreamID%2 == 1 && se.StreamID > c.lastID {
				c.lastID = se.StreamID
			}
			c.mu.Unlock()
			c.endStream(se.StreamID, se.Code)
		default:
			c.fail(err)
			return
		}
	}
}

// readPreface reads the client's connection preface, within prefaceTimeout.
func (c *conn) readPreface() bool {
	c.nc.SetReadDeadline(time.Now().Add(prefaceTimeout))
	var buf [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.nc, buf[:]); err != nil || string(buf[:]) != http2.ClientPreface {
		return false
	}
	c.nc.SetReadDeadline(time.Time{})
	return true
}

// fail ends the connection after err, telling the client why when it
// broke the protocol.
func (c *conn) fail(err error) {
	var ce http2.ConnectionError
	last := c.lastIDNow() // not inside write: c.mu is never taken under c.wmu
	switch {
	case errors.As(err, &ce):
		c.write(func() error { return c.wfr.WriteGoAway(last, http2.ErrCode(ce), nil) })
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.write(func() error { return c.wfr.WriteGoAway(last, http2.ErrCodeFrameSize, nil) })
	}
}

func (c *conn) lastIDNow() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// onFrame handles one frame; an error ends the connection.
func (c *conn) onFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.write(func() error { return c.wfr.WritePing(true, f.Data) })
		}
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		if s := c.streams[f.StreamID]; s != nil {
			c.removeLocked(s)
		} else if f.StreamID > c.lastID {
			c.mu.Unlock()
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.mu.Unlock()
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.draining = true
		idle := len(c.streams) == 0
		c.mu.Unlock()
		if idle {
			return io.EOF
		}
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	// PRIORITY and unknown frame types are ignored, as RFC 9113 allows.
	return nil
}

// onSettings applies the client's settings and acknowledges them.
func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(st http2.Setting) error { return st.Valid() }); err != nil {
		return err
	}
	c.mu.Lock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingInitialWindowSize:
			// A change applies to every open stream (RFC 9113, 6.9.2);
			// one pushed past 2^31-1 is the client's flow-control error.
			delta := int64(st.Val) - int64(c.peerWindow)
			c.peerWindow = int32(st.Val)
			for _, s := range c.streams {
				if int64(s.sendWindow)+delta > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				s.sendWindow += int32(delta)
			}
		case http2.SettingMaxFrameSize:
			c.peerFrame = st.Val
		}
		return nil
	})
	c.cond.Broadcast()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.write(func() error {
		f.ForeachSetting(func(st http2.Setting) error {
			if st.ID == http2.SettingHeaderTableSize {
				c.enc.SetMaxDynamicTableSizeLimit(st.Val)
			}
			return nil
		})
		return c.wfr.WriteSettingsAck()
	})
	return nil
}

// onWindowUpdate lets waiting answers send more.
func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	w := &c.sendWindow
	if f.StreamID != 0 {
		s := c.streams[f.StreamID]
		if s == nil {
			c.mu.Unlock()
			return nil // a stream already closed
		}
		w = &s.sendWindow
	}
	overflow := int64(*w)+int64(f.Increment) > 1<<31-1
	if !overflow {
		*w += int32(f.Increment)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	switch {
	case overflow && f.StreamID == 0:
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	case overflow:
		c.endStream(f.StreamID, http2.ErrCodeFlowControl)
	}
	return nil
}

// write runs fn with the writer held and flushes what it wrote, within
// writeTimeout. A failure closes the connection (the reader then ends) and
// is returned. The deadline is set before fn: a frame larger than the
// buffer goes to the socket from inside fn.
func (c *conn) write(fn func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout))
	err := fn()
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.nc.Close()
	}
	return err
}

// endStream resets stream id with code, if it is still open.
// The reset goes out before the stream is forgotten: forgetting the last
// stream of a draining connection closes our half of it.
func (c *conn) endStream(id uint32, code http2.ErrCode) {
	c.write(func() error { return c.wfr.WriteRSTStream(id, code) })
	c.forgetStream(id)
}

// forgetStream removes stream id, if it is still open.
func (c *conn) forgetStream(id uint32) {
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		c.removeLocked(s)
	}
	c.mu.Unlock()
}

// removeLocked forgets s and cancels its call; c.mu is held. A draining
// connection closes with its last call.
func (c *conn) removeLocked(s *stream) {
	if c.streams[s.id] != s {
		return
	}
	delete(c.streams, s.id)
	s.reset = true
	if s.cancel != nil {
		s.cancel()
	}
	c.cond.Broadcast()
	if c.draining && len(c.streams) == 0 {
		c.drained()
	}
}

// drained ends a draining connection whose last call was answered. It
// closes only our half at once: a client still reading the answer may
// write acknowledgements of frames before it (the helper acknowledges our
// SETTINGS), and a full close would make those writes fail, and with them
// the call. The client closes its half when it sees the end; the rest of
// the connection waits for that, for drainLinger at most.
func (c *conn) drained() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		c.nc.Close()
		return
	}
	time.AfterFunc(drainLinger, func() { c.nc.Close() })
}

// goAway tells the client to open no more calls and closes the connection
// once the calls in progress are answered.
func (c *conn) goAway() {
	// All under c.mu: a call that ends meanwhile would otherwise find the
	// connection draining and close our half before the GOAWAY is out.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.started {
		// Still in its handshake or preface: our first frame must be
		// SETTINGS, so no GOAWAY; nothing was asked on it yet.
		c.nc.Close()
		return
	}
	last := c.lastID
	c.write(func() error { return c.wfr.WriteGoAway(last, http2.ErrCodeNo, nil) })
	if len(c.streams) == 0 {
		c.drained()
	}
}

// close ends the connection and every call on it, once.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.nc.Close()
	c.cancel()
	c.srv.forget(c)
}
