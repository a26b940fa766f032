package wsemu

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestServingEndpoints(t *testing.T) {
	e := New(WithServingChunkDelay(100 * time.Millisecond))
	srv := httptest.NewServer(e)
	defer srv.Close()
	pat := e.AddUser("alice@example.com")
	post := func(path, body, token string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("/serving-endpoints/chat/completions", `{"model":"m"}`, ""); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	resp := post("/serving-endpoints/chat/completions", `{"model":"m","messages":[]}`, pat)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"object":"chat.completion"`) || !strings.Contains(string(b), "Hello") {
		t.Errorf("completion: %d %s", resp.StatusCode, b)
	}
	// Streamed: the first chunk comes well before the last is written.
	resp = post("/serving-endpoints/m/invocations", `{"stream":true}`, pat)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var first time.Time
	var lines []string
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			if first.IsZero() {
				first = time.Now()
			}
			lines = append(lines, l)
		}
	}
	if len(lines) != servingChunks+2 || lines[len(lines)-1] != "data: [DONE]" || !strings.Contains(lines[0], `"model":"m"`) {
		t.Fatalf("stream: %q", lines)
	}
	if last := e.ServingStats().LastChunkSent; !first.Before(last.Add(-300 * time.Millisecond)) {
		t.Errorf("first chunk at %v, last sent at %v: not streamed", first, last)
	}
	// Files: hashed on the way in, generated on the way out.
	req, _ := http.NewRequest("PUT", srv.URL+"/api/2.0/fs/files/Volumes/a/b.bin", io.LimitReader(FilePattern(), 1<<20))
	req.Header.Set("Authorization", "Bearer "+pat)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		t.Fatalf("upload: %v %v", err, r.StatusCode)
	}
	h := sha256.New()
	io.Copy(h, io.LimitReader(FilePattern(), 1<<20))
	if n, sum, ok := e.FileSHA256("Volumes/a/b.bin"); !ok || n != 1<<20 || sum != hex.EncodeToString(h.Sum(nil)) {
		t.Errorf("uploaded %d %s", n, sum)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/api/2.0/fs/files/Volumes/a/b.bin", nil)
	req.Header.Set("Authorization", "Bearer "+pat)
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.ContentLength != 1<<20 {
		t.Fatalf("download: %v %d", err, r.ContentLength)
	}
	h2 := sha256.New()
	io.Copy(h2, r.Body)
	if hex.EncodeToString(h2.Sum(nil)) != hex.EncodeToString(h.Sum(nil)) {
		t.Error("download differs from the pattern")
	}
}
