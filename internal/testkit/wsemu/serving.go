package wsemu

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Model serving, as its OpenAI-compatible endpoints answer: POST
// /serving-endpoints/chat/completions (the endpoint is the body's
// "model") and /serving-endpoints/<name>/invocations, each streamed as
// server-sent events when the body says "stream": true. And the Files API
// (PUT and GET /api/2.0/fs/files/<path>), streamed both ways: an upload is
// hashed as it arrives, never held; a download is generated.
const (
	pathServing    = "/serving-endpoints/"
	pathFiles      = "/api/2.0/fs/files/"
	servingChunks  = 5
	servingWordsIn = "Hello from the emulated endpoint"
)

// WithServingChunkDelay spaces a streamed completion's chunks by d
// (default 50 ms), so a test can tell a client that streams from one that
// waits for the whole answer.
func WithServingChunkDelay(d time.Duration) Option {
	return func(e *Emulator) { e.serving.delay = d }
}

// serving is the model-serving and Files state.
type serving struct {
	delay time.Duration

	mu        sync.Mutex
	lastChunk time.Time // when the last streamed chunk was written
	files     map[string]fileInfo
	requests  int
}

type fileInfo struct {
	size int64
	sum  string
}

// ServingStats says what model serving has seen.
type ServingStats struct {
	Requests int
	// LastChunkSent is when the latest stream's final chunk was written.
	LastChunkSent time.Time
}

// ServingStats reports the serving endpoints' counters.
func (e *Emulator) ServingStats() ServingStats {
	e.serving.mu.Lock()
	defer e.serving.mu.Unlock()
	return ServingStats{Requests: e.serving.requests, LastChunkSent: e.serving.lastChunk}
}

// FileSHA256 is the size and hex SHA-256 of an uploaded file.
func (e *Emulator) FileSHA256(path string) (int64, string, bool) {
	e.serving.mu.Lock()
	defer e.serving.mu.Unlock()
	f, ok := e.serving.files[path]
	return f.size, f.sum, ok
}

// serveServing answers /serving-endpoints/ for an authenticated user.
func (e *Emulator) serveServing(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeMethodNotAllowed(w, r, http.MethodPost)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, pathServing)
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Malformed request body: "+err.Error())
		return
	}
	name := req.Model
	switch {
	case rest == "chat/completions":
	case strings.HasSuffix(rest, "/invocations") && !strings.Contains(strings.TrimSuffix(rest, "/invocations"), "/"):
		name = strings.TrimSuffix(rest, "/invocations")
	default:
		writeNotFound(w, r)
		return
	}
	if name == "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "model is required")
		return
	}
	e.serving.mu.Lock()
	e.serving.requests++
	e.serving.mu.Unlock()
	id := "chatcmpl-" + randomHex(8)
	created := e.now().Unix()
	words := strings.Fields(servingWordsIn)
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": name,
			"choices": []map[string]any{{"index": 0, "message": map[string]string{"role": "assistant", "content": strings.Join(words, " ")}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 3 + len(words)},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	delay := e.serving.delay
	if delay == 0 {
		delay = 50 * time.Millisecond
	}
	for i := 0; i <= servingChunks; i++ {
		delta := map[string]string{}
		finish := any(nil)
		switch {
		case i == 0:
			delta["role"] = "assistant"
		case i < servingChunks:
			delta["content"] = strings.Join(words[(i-1)*len(words)/(servingChunks-1):i*len(words)/(servingChunks-1)], " ") + " "
		default:
			finish = "stop"
		}
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": name,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}}})
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if i < servingChunks && !sleep(r.Context(), delay) {
			return
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
	e.serving.mu.Lock()
	e.serving.lastChunk = time.Now()
	e.serving.mu.Unlock()
}

// serveFiles is the Files API: PUT stores a file's size and SHA-256 (the
// bytes are hashed as they arrive, never kept); GET streams size bytes of
// FilePattern, ?size=N for a file never uploaded.
func (e *Emulator) serveFiles(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, pathFiles)
	switch r.Method {
	case http.MethodPut:
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "reading the upload: "+err.Error())
			return
		}
		e.serving.mu.Lock()
		if e.serving.files == nil {
			e.serving.files = map[string]fileInfo{}
		}
		e.serving.files[path] = fileInfo{size: n, sum: hex.EncodeToString(h.Sum(nil))}
		e.serving.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		e.serving.mu.Lock()
		f, ok := e.serving.files[path]
		e.serving.mu.Unlock()
		size := f.size
		if !ok {
			n, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
			if err != nil || n < 0 {
				writeError(w, http.StatusNotFound, "NOT_FOUND", "The file being accessed is not found.")
				return
			}
			size = n
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		io.CopyN(w, FilePattern(), size)
	default:
		writeMethodNotAllowed(w, r, http.MethodGet, http.MethodPut)
	}
}

// FilePattern is an endless reader of the bytes a download is made of
// (and a test's upload may be): byte i is i*31+7 modulo 256.
func FilePattern() io.Reader { return &pattern{} }

type pattern struct{ i int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = byte(p.i*31 + 7)
		p.i++
	}
	return len(b), nil
}
