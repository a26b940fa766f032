package wsemu

import "strings"

// gauge counts the requests of one endpoint being answered, and the most
// there ever were at once.
type gauge struct{ now, peak int }

// enterLocked counts a request in; admit calls it, so every request that
// is counted by Requests is also in flight until leave.
func (e *Emulator) enterLocked(ep endpoint) {
	g := e.inFlight[ep]
	if g == nil {
		g = &gauge{}
		e.inFlight[ep] = g
	}
	g.now++
	g.peak = max(g.peak, g.now)
}

// leave counts a request out once ServeHTTP has answered it.
func (e *Emulator) leave(method, path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if g := e.inFlight[endpoint{method, path}]; g != nil && g.now > 0 {
		g.now--
	}
}

// InFlight reports how many requests for method and path are being
// answered now, and the most that were at once since New or the last
// ResetInFlightPeak, e.g. to prove a client bounds its concurrent
// token/create calls. Injected latency counts as in flight. Both must be
// given exactly (method case-insensitively); peaks of different endpoints
// are not added up, since they need not coincide.
func (e *Emulator) InFlight(method, path string) (now, peak int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if g := e.inFlight[endpoint{strings.ToUpper(method), path}]; g != nil {
		return g.now, g.peak
	}
	return 0, 0
}

// ResetInFlightPeak restarts every endpoint's peak from its current count,
// so a test can measure one phase.
func (e *Emulator) ResetInFlightPeak() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range e.inFlight {
		g.peak = g.now
	}
}

// TokenInfoOf describes the live token with value, as token/list would, so
// a test can check what a client was handed (its scopes, expiry, comment).
// Unlike Authenticate it does not count as use.
func (e *Emulator) TokenInfoOf(value string) (TokenInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.byValue[value]
	if !ok || !e.aliveLocked(t, e.now()) {
		return TokenInfo{}, false
	}
	return t.publicInfo(), true
}
