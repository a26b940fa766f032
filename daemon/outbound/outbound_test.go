package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

const secret = "dapi0123456789abcdef0123456789abcdef"

// A plain-http server on loopback run by another uid (a program that took
// the port while the user's gateway was down) gets no byte of the request:
// the connection is closed unused and the error names the owner. The
// user's own server is reached as before.
func TestLoopbackServerOfAnotherUserGetsNothing(t *testing.T) {
	ln, err := porttest.NewAsUID(t, 65534).Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		mu.Lock()
		got = b
		mu.Unlock()
	}()
	client := Client(10 * time.Second)
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/api/2.0/token/create", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	_, err = client.Do(req)
	if !errors.Is(err, ErrForeignListener) || !strings.Contains(err.Error(), "uid 65534") || strings.Contains(err.Error(), secret) {
		t.Fatalf("request to another user's server: %v", err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("the other user's server read %q", got)
	}

	mine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer mine.Close()
	resp, err := client.Get(mine.URL)
	if err != nil {
		t.Fatalf("our own loopback server: %v", err)
	}
	resp.Body.Close()
}

// Only plain http is checked: over https the server's certificate proves
// who it is, and a TLS test server of another uid is reached (its
// certificate is then what a real client would check).
func TestHTTPSIsNotChecked(t *testing.T) {
	other := porttest.NewAsUID(t, 65534)
	ln, err := other.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	defer srv.Close()
	rt := Transport(Config{}).(roundTripper)
	rt.plain.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	resp, err := (&http.Client{Transport: rt, Timeout: 10 * time.Second}).Get(srv.URL)
	if err != nil {
		t.Fatalf("https to another uid's loopback server: %v", err)
	}
	resp.Body.Close()
}
