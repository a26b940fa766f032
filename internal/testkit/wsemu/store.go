package wsemu

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
)

// TokenInfo is a token as the Token API describes it. Times are epoch
// milliseconds; ExpiryTime is -1 for a token that never expires.
type TokenInfo struct {
	TokenID      string   `json:"token_id"`
	CreationTime int64    `json:"creation_time"`
	ExpiryTime   int64    `json:"expiry_time"`
	Comment      string   `json:"comment,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
}

type user struct {
	id   string
	name string // for a service principal, its application id
	// servicePrincipal marks an OAuth M2M identity (AddServicePrincipal).
	servicePrincipal bool
}

type token struct {
	seq      uint64 // issue order, to sort tokens created in the same millisecond
	value    string
	owner    string
	info     TokenInfo
	lastUsed time.Time
}

func (t *token) publicInfo() TokenInfo {
	info := t.info
	info.Scopes = slices.Clone(t.info.Scopes)
	return info
}

// aliveLocked reports whether t can still authenticate at now. A dead token is
// indistinguishable from one that never existed, as on a real workspace.
func (e *Emulator) aliveLocked(t *token, now time.Time) bool {
	if t.info.ExpiryTime != -1 && now.UnixMilli() >= t.info.ExpiryTime {
		return false
	}
	if e.unusedRevocation > 0 && now.Sub(t.lastUsed) >= e.unusedRevocation {
		return false
	}
	return true
}

// pruneLocked forgets dead tokens so that quota, list and delete never see
// them.
func (e *Emulator) pruneLocked(now time.Time) {
	for _, t := range e.byID {
		if !e.aliveLocked(t, now) {
			e.removeLocked(t)
		}
	}
}

func (e *Emulator) removeLocked(t *token) {
	delete(e.byID, t.info.TokenID)
	delete(e.byValue, t.value)
}

func (e *Emulator) userLocked(name string) *user {
	u, ok := e.users[name]
	if !ok {
		u = &user{id: randomDigits(16), name: name}
		e.users[name] = u
	}
	return u
}

// issueLocked stores a new token; lifetime 0 means it never expires. Callers
// enforce quota and lifetime policy.
func (e *Emulator) issueLocked(owner, comment string, lifetime time.Duration, scopes []string, now time.Time) *token {
	created := now.UnixMilli()
	expiry := int64(-1)
	if lifetime != 0 {
		expiry = created + lifetime.Milliseconds()
	}
	e.issued++
	t := &token{
		seq:      e.issued,
		value:    "dapi" + randomHex(16),
		owner:    owner,
		lastUsed: now,
		info: TokenInfo{
			TokenID:      randomHex(32),
			CreationTime: created,
			ExpiryTime:   expiry,
			Comment:      comment,
			Scopes:       slices.Clone(scopes),
		},
	}
	e.byValue[t.value] = t
	e.byID[t.info.TokenID] = t
	return t
}

func (e *Emulator) liveTokensLocked(owner string, now time.Time) []TokenInfo {
	e.pruneLocked(now)
	var mine []*token
	for _, t := range e.byID {
		if t.owner == owner {
			mine = append(mine, t)
		}
	}
	// Map order is random; issue order keeps list responses and test
	// failures reproducible.
	slices.SortFunc(mine, func(a, b *token) int { return cmp.Compare(a.seq, b.seq) })
	infos := make([]TokenInfo, 0, len(mine))
	for _, t := range mine {
		infos = append(infos, t.publicInfo())
	}
	return infos
}

// AddUser creates userName (if new) and gives it a fresh never-expiring PAT
// with comment "root", the long-lived credential a user would hand to
// dbx-cred.
func (e *Emulator) AddUser(userName string) (pat string) {
	pat, _ = e.CreatePAT(userName, "root", 0, nil)
	return pat
}

// CreatePAT issues a token directly, as an admin fixture: it bypasses quota,
// maximum lifetime, scope support and the creation switch so tests can set up
// any state. The user is created if unknown. lifetime 0 means never expires;
// a negative lifetime yields an already expired (hence unusable) token.
func (e *Emulator) CreatePAT(userName, comment string, lifetime time.Duration, scopes []string) (value string, info TokenInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.userLocked(userName)
	t := e.issueLocked(userName, comment, lifetime, scopes, e.now())
	return t.value, t.publicInfo()
}

// RevokeToken is the "admin revoked it" switch. It reports whether a live
// token was revoked.
func (e *Emulator) RevokeToken(value string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneLocked(e.now())
	t, ok := e.byValue[value]
	if ok {
		e.removeLocked(t)
	}
	return ok
}

// LiveTokens lists userName's unrevoked, unexpired tokens, oldest first.
func (e *Emulator) LiveTokens(userName string) []TokenInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.liveTokensLocked(userName, e.now())
}

// Authenticate reports whether value is a valid token right now and whose it
// is, for sibling test servers (e.g. git over HTTP) that accept workspace
// PATs. Like a real workspace it counts as use of the token.
func (e *Emulator) Authenticate(value string) (userName string, ok bool) {
	u, ok := e.authenticate(value)
	if !ok {
		return "", false
	}
	return u.name, true
}

func (e *Emulator) authenticate(value string) (*user, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	t, ok := e.byValue[value]
	if !ok {
		// Not a PAT: OAuth access tokens issued for this workspace are
		// accepted by the same endpoints.
		return e.authenticateOAuthLocked(value, "", now)
	}
	if !e.aliveLocked(t, now) {
		e.removeLocked(t)
		return nil, false
	}
	t.lastUsed = now
	return e.users[t.owner], true
}

// randomHex returns 2n lowercase hex characters from crypto/rand.
func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails since Go 1.24 (it aborts the program).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomUUID returns a random version 4 UUID, the shape of account ids.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomDigits returns an n-digit decimal string without a leading zero, the
// shape of Databricks workspace and user ids. n must be at most 18.
func randomDigits(n int) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	lo := uint64(1)
	for range n - 1 {
		lo *= 10
	}
	return strconv.FormatUint(lo+binary.BigEndian.Uint64(b[:])%(9*lo), 10)
}
