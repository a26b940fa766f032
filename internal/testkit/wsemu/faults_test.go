package wsemu

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestFaultRetryAfterThenSuccess(t *testing.T) {
	emu, srv, pat := start(t)
	emu.InjectFault(Fault{Method: "GET", Path: pathMe, Status: 429, RetryAfter: 2 * time.Second, Times: 2})

	for i := range 2 {
		r := call(t, srv, http.MethodGet, pathMe, pat, "")
		wantError(t, r, 429, "REQUEST_LIMIT_EXCEEDED", "")
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Errorf("attempt %d: Retry-After %q, want 2", i, got)
		}
	}
	if r := call(t, srv, http.MethodGet, pathMe, pat, ""); r.status != http.StatusOK {
		t.Fatalf("third attempt: %d %s", r.status, r.raw)
	}
	if n := emu.Requests("GET", pathMe); n != 3 {
		t.Errorf("Requests(GET, Me) = %d, want 3", n)
	}
	if n := emu.Requests("POST", pathMe); n != 0 {
		t.Errorf("Requests(POST, Me) = %d, want 0", n)
	}
}

func TestFaultShapes(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter time.Duration
		code       string
		wantRetry  string
	}{
		{status: 429, code: "REQUEST_LIMIT_EXCEEDED"},
		{status: 500, retryAfter: time.Second, code: "INTERNAL_ERROR"}, // no Retry-After on 500
		{status: 503, retryAfter: 1500 * time.Millisecond, code: "TEMPORARILY_UNAVAILABLE", wantRetry: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			emu, srv, _ := start(t)
			emu.InjectFault(Fault{Status: tc.status, RetryAfter: tc.retryAfter})
			// Faults come before auth: no credential, yet the fault answers.
			for _, path := range []string{pathTokenList, pathHostMetadata, "/nope"} {
				r := call(t, srv, http.MethodGet, path, "", "")
				wantError(t, r, tc.status, tc.code, "")
				if got := r.header.Get("Retry-After"); got != tc.wantRetry {
					t.Errorf("%s: Retry-After %q, want %q", path, got, tc.wantRetry)
				}
			}
			emu.ClearFaults()
			wantError(t, call(t, srv, http.MethodGet, pathTokenList, "", ""), 401, 401.0, "")
			if n := emu.Requests("", ""); n != 4 {
				t.Errorf("Requests(any) = %d, want 4", n)
			}
			if n := emu.Requests("", pathTokenList); n != 2 {
				t.Errorf("Requests(any, list) = %d, want 2", n)
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	emu, srv, pat := start(t)
	emu.InjectFault(Fault{Method: "POST", Path: pathTokenCreate, Status: 503, Times: 1})
	emu.InjectFault(Fault{Path: pathTokenCreate, Status: 500, Times: 1})

	if r := call(t, srv, http.MethodGet, pathTokenList, pat, ""); r.status != 200 {
		t.Errorf("unmatched path faulted: %d", r.status)
	}
	// First match wins, then the next queued fault, then normal service.
	wantError(t, call(t, srv, http.MethodPost, pathTokenCreate, pat, "{}"), 503, "TEMPORARILY_UNAVAILABLE", "")
	wantError(t, call(t, srv, http.MethodPost, pathTokenCreate, pat, "{}"), 500, "INTERNAL_ERROR", "")
	createToken(t, srv, pat, "{}")
	if n := emu.Requests("POST", pathTokenCreate); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestFaultLatency(t *testing.T) {
	emu, srv, pat := start(t)
	emu.InjectFault(Fault{Path: pathMe, Latency: 50 * time.Millisecond, Times: 1})
	begin := time.Now()
	if r := call(t, srv, http.MethodGet, pathMe, pat, ""); r.status != 200 {
		t.Fatalf("latency-only fault changed the answer: %d", r.status)
	}
	if d := time.Since(begin); d < 50*time.Millisecond {
		t.Errorf("answered after %s, want >= 50ms", d)
	}

	// A client that gives up is not held hostage by a long latency.
	emu.InjectFault(Fault{Path: pathMe, Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+pathMe, nil)
	if err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request under an hour of latency succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	emu.ClearFaults()
	// srv.Close in cleanup blocks on in-flight handlers, so this also proves
	// the handler stopped sleeping.
}
