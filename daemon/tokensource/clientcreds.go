package tokensource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/remotetext"
)

// ClientCredentials serves OAuth access tokens of a service principal
// (M2M: grant_type=client_credentials, the client id and secret in Basic
// auth). It holds no token in the workspace that could be revoked: an
// access token simply expires, so Held is empty and Revoke only stops.
//
// mu guards every field below it; a fetch runs with it released, and the
// fetching flag makes concurrent callers wait for that one fetch instead of
// starting their own: forty clients needing a token cost one request.
type ClientCredentials struct {
	cfg          clientcredentials.Config
	minRemaining time.Duration
	clock        Clock
	client       *http.Client

	mu       sync.Mutex
	cur      Token
	got      time.Time // when cur was asked for, on our clock
	lastErr  error
	fetching bool
	changed  chan struct{} // closed and replaced when a fetch ends
	stopped  bool
}

var _ Source = (*ClientCredentials)(nil)

// ClientCredentialsConfig says where and as whom to ask.
type ClientCredentialsConfig struct {
	TokenURL, ClientID, ClientSecret string
	Scopes                           []string // default: all-apis
	// MinRemaining: never hand out a token with less life left (default
	// 5 minutes, as the SDKs refresh OAuth tokens).
	MinRemaining time.Duration
	Clock        Clock
	// HTTPClient asks the token endpoint; default outbound.Client with
	// a timeout, never http.DefaultClient, which has none.
	HTTPClient *http.Client
}

// NewClientCredentials returns a source; it asks for nothing until a
// client does.
func NewClientCredentials(c ClientCredentialsConfig) *ClientCredentials {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"all-apis"}
	}
	if c.MinRemaining == 0 {
		c.MinRemaining = 5 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	client := c.HTTPClient
	if client == nil {
		client = outbound.Client(refreshTimeout)
	}
	return &ClientCredentials{
		cfg: clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.TokenURL,
			Scopes: c.Scopes, AuthStyle: oauth2.AuthStyleInHeader},
		minRemaining: c.MinRemaining, clock: c.Clock, changed: make(chan struct{}), client: client,
	}
}

// ErrClientRejected marks a client id or secret the token endpoint refused.
var ErrClientRejected = errors.New("the token endpoint rejected the client id or secret")

// Token implements Source.
func (s *ClientCredentials) Token(ctx context.Context) (Token, error) {
	for {
		s.mu.Lock()
		now := s.clock.Now()
		switch {
		case s.stopped:
			s.mu.Unlock()
			return Token{}, ErrStopped
		case s.cur.Value != "" && now.Add(s.minRemaining).Before(s.cur.Expiry):
			t := s.cur
			s.mu.Unlock()
			return t, nil
		case s.fetching:
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return Token{}, fmt.Errorf("wait for an OAuth access token: %w", ctx.Err())
			}
		}
		s.fetching = true
		s.mu.Unlock()
		t, err := s.fetch(ctx)
		s.mu.Lock()
		s.fetching = false
		if err == nil {
			s.cur, s.lastErr = t, nil
		} else {
			s.lastErr = err
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return Token{}, err
		}
		return t, nil
	}
}

func (s *ClientCredentials) fetch(ctx context.Context) (Token, error) {
	asked := s.clock.Now()
	ot, err := s.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.Response != nil && re.Response.StatusCode == 401) {
			return Token{}, fmt.Errorf("%w (%s): log in again with the right secret", ErrClientRejected, remotetext.Clip(re.ErrorCode))
		}
		return Token{}, fmt.Errorf("get an OAuth access token from %s: %w", s.cfg.TokenURL, remotetext.Error(err))
	}
	// The lifetime the server granted, counted from when we asked, on our
	// clock (as for minted PATs): a skewed wall clock changes nothing.
	life := time.Until(ot.Expiry)
	if ot.ExpiresIn > 0 {
		life = time.Duration(ot.ExpiresIn) * time.Second
	}
	return Token{Value: ot.AccessToken, Expiry: asked.Add(life)}, nil
}

// Refresh implements Source: the next Token fetches a new access token,
// unless the current one is younger than minAge.
func (s *ClientCredentials) Refresh(rejected string, minAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Value == "" || (rejected != "" && rejected != s.cur.Value) || s.clock.Now().Sub(s.got) < minAge {
		return false
	}
	s.cur, s.got = Token{}, s.clock.Now()
	return true
}

// Status implements Source.
func (s *ClientCredentials) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Expiry: s.cur.Expiry, LastError: s.lastErr, NeedsLogin: errors.Is(s.lastErr, ErrClientRejected)}
}

// Held implements Source: access tokens are not workspace tokens.
func (s *ClientCredentials) Held() map[string]bool { return nil }

// Stop implements Source.
func (s *ClientCredentials) Stop() {
	s.mu.Lock()
	s.stopped, s.cur = true, Token{}
	s.mu.Unlock()
}

// Revoke implements Source: an access token cannot be revoked, it expires.
func (s *ClientCredentials) Revoke(context.Context) ([]string, error) {
	s.Stop()
	return nil, nil
}
