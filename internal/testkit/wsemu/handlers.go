package wsemu

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

const malformedPrefix = "Invalid JSON given in the body of the request: "

// hostMetadata is what databricks-sdk-go fetches before its first API call to
// learn the host type and workspace id.
type hostMetadata struct {
	OIDCEndpoint  string   `json:"oidc_endpoint"`
	WorkspaceID   string   `json:"workspace_id"`
	Cloud         string   `json:"cloud"`
	HostType      string   `json:"host_type"`
	OIDCAudiences []string `json:"token_federation_default_oidc_audiences"`
}

// The SDK appends /.well-known/oauth-authorization-server to oidc_endpoint
// to find the OAuth discovery document, so both derive from one prefix.
func (e *Emulator) handleHostMetadata(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeJSON(w, http.StatusOK, hostMetadata{
		OIDCEndpoint:  base + pathOIDCPrefix,
		WorkspaceID:   e.workspaceID,
		Cloud:         "AWS",
		HostType:      "WORKSPACE_HOST",
		OIDCAudiences: cmpOr(e.federationAudiences, []string{base + pathOIDCToken}),
	})
}

func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

type scimEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

type scimMe struct {
	ID          string      `json:"id"`
	UserName    string      `json:"userName"`
	DisplayName string      `json:"displayName"`
	Active      bool        `json:"active"`
	Emails      []scimEmail `json:"emails"`
	Schemas     []string    `json:"schemas"`
}

func (e *Emulator) handleMe(w http.ResponseWriter, _ *http.Request, u *user) {
	display, _, _ := strings.Cut(u.name, "@")
	emails := []scimEmail{{Value: u.name, Type: "work", Primary: true}}
	if u.servicePrincipal {
		// A service principal's userName is its application id; it has
		// no mailbox.
		emails = []scimEmail{}
	}
	writeJSON(w, http.StatusOK, scimMe{
		ID:          u.id,
		UserName:    u.name,
		DisplayName: display,
		Active:      true,
		Emails:      emails,
		Schemas: []string{
			"urn:ietf:params:scim:schemas:core:2.0:User",
			"urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
		},
	})
}

type createRequest struct {
	LifetimeSeconds int64    `json:"lifetime_seconds"`
	Comment         string   `json:"comment"`
	Scopes          []string `json:"scopes"`
}

type createResponse struct {
	TokenValue string    `json:"token_value"`
	TokenInfo  TokenInfo `json:"token_info"`
}

func (e *Emulator) handleTokenCreate(w http.ResponseWriter, r *http.Request, u *user) {
	if e.creationDisabled {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Personal access tokens are disabled for this workspace. Ask your workspace admin to enable them.")
		return
	}
	var req createRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "MALFORMED_REQUEST", malformedPrefix+err.Error())
		return
	}
	if msg := e.validateCreate(req); msg != "" {
		writeError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", msg)
		return
	}
	// Proto3 semantics: an explicit 0 is the same as leaving the field out.
	lifetime := time.Duration(req.LifetimeSeconds) * time.Second
	if req.LifetimeSeconds == 0 {
		lifetime = e.maxLifetime
	}

	resp, ok := e.createWithinQuota(u, req.Comment, lifetime, req.Scopes)
	if !ok {
		writeError(w, http.StatusBadRequest, "QUOTA_EXCEEDED",
			fmt.Sprintf("Cannot create more than %d tokens. Delete unused tokens and try again.", e.quota))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// createWithinQuota checks the quota and issues the token under one lock so
// concurrent creates cannot overshoot it.
func (e *Emulator) createWithinQuota(u *user, comment string, lifetime time.Duration, scopes []string) (createResponse, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if e.quota > 0 && len(e.liveTokensLocked(u.name, now)) >= e.quota {
		return createResponse{}, false
	}
	t := e.issueLocked(u.name, comment, max(lifetime, 0), scopes, now)
	return createResponse{TokenValue: t.value, TokenInfo: t.publicInfo()}, true
}

// validateCreate returns the INVALID_PARAMETER_VALUE message for req, or "".
func (e *Emulator) validateCreate(req createRequest) string {
	// Beyond this a Duration (and epoch ms) would overflow; real workspaces
	// cap lifetimes far below it anyway.
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	switch {
	case req.LifetimeSeconds < 0:
		return fmt.Sprintf("lifetime_seconds must not be negative, got %d", req.LifetimeSeconds)
	case req.LifetimeSeconds > maxSeconds:
		return fmt.Sprintf("lifetime_seconds %d is too large", req.LifetimeSeconds)
	case e.maxLifetime > 0 && time.Duration(req.LifetimeSeconds)*time.Second > e.maxLifetime:
		return fmt.Sprintf("Token lifetime of %d seconds exceeds the maximum lifetime of %d seconds (%d days) set for this workspace.",
			req.LifetimeSeconds, int64(e.maxLifetime/time.Second), int64(e.maxLifetime/(24*time.Hour)))
	case len(req.Scopes) > 0 && !e.scopesSupported:
		return "The scopes field is not supported on this workspace."
	}
	for _, s := range req.Scopes {
		if strings.TrimSpace(s) == "" {
			return "scopes must not contain empty values"
		}
	}
	return ""
}

func (e *Emulator) handleTokenList(w http.ResponseWriter, _ *http.Request, u *user) {
	writeJSON(w, http.StatusOK, map[string][]TokenInfo{"token_infos": e.LiveTokens(u.name)})
}

func (e *Emulator) handleTokenDelete(w http.ResponseWriter, r *http.Request, u *user) {
	var req struct {
		TokenID string `json:"token_id"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "MALFORMED_REQUEST", malformedPrefix+err.Error())
		return
	}
	if req.TokenID == "" {
		writeError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "Missing required field: token_id")
		return
	}

	e.mu.Lock()
	e.pruneLocked(e.now())
	t, ok := e.byID[req.TokenID]
	// Someone else's token looks exactly like a missing one, so ids of other
	// users' tokens cannot be probed.
	found := ok && t.owner == u.name
	if found {
		e.removeLocked(t)
	}
	e.mu.Unlock()

	if !found {
		writeError(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST",
			fmt.Sprintf("Token with ID %s does not exist.", req.TokenID))
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
