package wsemu

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests slow and/or fail, before authentication, the
// way a gateway or overloaded control plane would.
type Fault struct {
	Method, Path string        // "" matches any; Path is the exact URL path
	Status       int           // e.g. 429, 500, 503; 0 = no status change (latency only)
	RetryAfter   time.Duration // sets Retry-After (whole seconds, rounded up) on 429/503
	Latency      time.Duration // real-time sleep before answering; ends early if the client gives up
	Times        int           // how many matching requests it affects; 0 = until ClearFaults
}

type pendingFault struct {
	Fault
	left int // remaining uses when Times > 0
}

type endpoint struct{ method, path string }

func (f Fault) matches(method, path string) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, method)) &&
		(f.Path == "" || f.Path == path)
}

// InjectFault queues f. Faults are consulted in the order injected and only
// the first match applies to a request.
func (e *Emulator) InjectFault(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &pendingFault{Fault: f, left: f.Times})
}

// ClearFaults drops every queued fault, including unlimited ones.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// Requests counts requests received for method and path, faulted ones
// included. "" matches any method or any path.
func (e *Emulator) Requests(method, path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for ep, c := range e.requests {
		if (method == "" || strings.EqualFold(method, ep.method)) && (path == "" || path == ep.path) {
			n += c
		}
	}
	return n
}

// admit counts the request and consumes the first matching fault, if any.
func (e *Emulator) admit(method, path string) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests[endpoint{method, path}]++
	e.enterLocked(endpoint{method, path})
	for i, pf := range e.faults {
		if !pf.matches(method, path) {
			continue
		}
		if pf.Times > 0 {
			pf.left--
			if pf.left <= 0 {
				e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
			}
		}
		return pf.Fault, true
	}
	return Fault{}, false
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeFault answers with the error body Databricks uses for f.Status.
func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 && (f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable) {
		secs := (f.RetryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	code, msg := faultError(f.Status)
	writeError(w, f.Status, code, msg)
}

func faultError(status int) (code, message string) {
	switch status {
	case http.StatusTooManyRequests:
		return "REQUEST_LIMIT_EXCEEDED", "Too many requests. Please wait a moment and try again."
	case http.StatusInternalServerError:
		return "INTERNAL_ERROR", "Internal error occurred. Please try again later."
	case http.StatusServiceUnavailable:
		return "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."
	case http.StatusBadGateway:
		return "BAD_GATEWAY", "Bad gateway."
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED", "The request timed out at the gateway."
	case http.StatusBadRequest:
		return "BAD_REQUEST", "Injected bad request."
	case http.StatusForbidden:
		return "PERMISSION_DENIED", "Injected permission denied."
	case http.StatusNotFound:
		return "NOT_FOUND", "Injected not found."
	default:
		return "UNKNOWN", "Injected fault: " + http.StatusText(status)
	}
}
