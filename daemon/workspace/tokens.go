package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/remotetext"
)

// The Token API is called over plain net/http rather than through the SDK:
// the SDK retries 429/503 on its own schedule for up to its retry timeout and
// ignores Retry-After, while renewal must own its retries (keep serving the
// current token, back off as the server asks, count attempts).

// APIError is a workspace's error answer.
type APIError struct {
	Status     int
	Code       string // error_code, e.g. "QUOTA_EXCEEDED" or "403"
	Message    string
	RetryAfter time.Duration // from Retry-After, when given
}

func (e *APIError) Error() string {
	return fmt.Sprintf("workspace answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Rejected reports whether the credential itself was refused.
func (e *APIError) Rejected() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden && e.Message == "Invalid access token."
}

// Transient reports whether trying again later may succeed.
func (e *APIError) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsTransient reports whether err (from a Token API call) is worth retrying:
// throttling, server errors and network trouble.
func IsTransient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Transient()
	}
	var ue *UnreachableError
	return errors.As(err, &ue)
}

// TokenInfo describes a token without its value.
type TokenInfo struct {
	ID      string
	Comment string
	Created time.Time
	Expiry  time.Time // zero: never
	Scopes  []string
}

// NewToken is a freshly created token: the only time its value is seen.
type NewToken struct {
	Value string
	TokenInfo
}

// TokenAPI calls a workspace's Token API with one credential.
type TokenAPI struct {
	host, token string
	http        *http.Client
	each        time.Duration // the bound on one request, for messages
}

// Tokens returns a Token API client for host authenticated by token.
func (c *Client) Tokens(host, token string) *TokenAPI {
	return &TokenAPI{host: host, token: token, http: c.http, each: c.answerTimeout}
}

type wireInfo struct {
	TokenID      string   `json:"token_id"`
	CreationTime int64    `json:"creation_time"`
	ExpiryTime   int64    `json:"expiry_time"`
	Comment      string   `json:"comment"`
	Scopes       []string `json:"scopes"`
}

func (w wireInfo) info() TokenInfo {
	ti := TokenInfo{ID: w.TokenID, Comment: w.Comment, Created: time.UnixMilli(w.CreationTime), Scopes: w.Scopes}
	if w.ExpiryTime > 0 {
		ti.Expiry = time.UnixMilli(w.ExpiryTime)
	}
	return ti
}

// Create makes a token living for lifetime (0: the workspace's maximum).
func (t *TokenAPI) Create(ctx context.Context, lifetime time.Duration, comment string, scopes []string) (NewToken, error) {
	req := map[string]any{"comment": comment}
	if lifetime > 0 {
		req["lifetime_seconds"] = int64(lifetime / time.Second)
	}
	if len(scopes) > 0 {
		req["scopes"] = scopes
	}
	var resp struct {
		TokenValue string   `json:"token_value"`
		TokenInfo  wireInfo `json:"token_info"`
	}
	if err := t.do(ctx, http.MethodPost, "/api/2.0/token/create", req, &resp); err != nil {
		return NewToken{}, fmt.Errorf("create a token: %w", err)
	}
	if resp.TokenValue == "" || resp.TokenInfo.TokenID == "" {
		return NewToken{}, fmt.Errorf("create a token at %s: the answer carries no token", t.host)
	}
	return NewToken{Value: resp.TokenValue, TokenInfo: resp.TokenInfo.info()}, nil
}

// List returns the caller's tokens.
func (t *TokenAPI) List(ctx context.Context) ([]TokenInfo, error) {
	var resp struct {
		TokenInfos []wireInfo `json:"token_infos"`
	}
	if err := t.do(ctx, http.MethodGet, "/api/2.0/token/list", nil, &resp); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]TokenInfo, len(resp.TokenInfos))
	for i, w := range resp.TokenInfos {
		out[i] = w.info()
	}
	return out, nil
}

// Delete revokes the token with id.
func (t *TokenAPI) Delete(ctx context.Context, id string) error {
	if err := t.do(ctx, http.MethodPost, "/api/2.0/token/delete", map[string]string{"token_id": id}, nil); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

func (t *TokenAPI) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.host+path, rd)
	if err != nil {
		return fmt.Errorf("build request to %s: %w", t.host, err)
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("User-Agent", "dbx-cred")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := t.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return silentAfter(&UnreachableError{Host: t.host, Err: err}, start, t.each)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &UnreachableError{Host: t.host, Err: fmt.Errorf("read the answer: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		return parseError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode the answer from %s%s: %w", t.host, path, err)
	}
	return nil
}

// parseError reads {"error_code": ..., "message": ...}; error_code may be a
// string or a number (reference: 403 {"error_code": 403, ...}).
func parseError(resp *http.Response, data []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var body struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Message   string          `json:"message"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code = remotetext.Clip(strings.Trim(string(body.ErrorCode), `"`))
		e.Message = remotetext.Clip(body.Message)
	}
	if e.Message == "" {
		e.Message = remotetext.Clip(strings.TrimSpace(resp.Header.Get("X-Databricks-Reason-Phrase")))
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
