package tokensource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

	// exchange, when set, makes this a token-exchange source (workload
	// identity federation): the grant's parameters, with a fresh JWT, for
	// each fetch; no client secret.
	exchange func(ctx context.Context) (url.Values, error)

	mu       sync.Mutex
	cur      Token
	renewAt  time.Time // when cur is too old to hand out
	got      time.Time // when cur was asked for, on our clock
	lastErr  error
	failures int       // fetches failed in a row
	retryAt  time.Time // no fetch before this after a failure
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
	// Exchange, when set, gives each fetch's token-exchange parameters
	// (RFC 8693: grant_type, subject_token...) instead of a client
	// secret; ClientID may then be empty (an account-wide policy).
	Exchange func(ctx context.Context) (url.Values, error)
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
		minRemaining: c.MinRemaining, clock: c.Clock, changed: make(chan struct{}), client: client, exchange: c.Exchange,
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
		case s.cur.Value != "" && now.Before(s.renewAt):
			t := s.cur
			s.mu.Unlock()
			return t, nil
		case s.lastErr != nil && now.Before(s.retryAt):
			// Backing off: every caller gets the last failure at once,
			// not a request each.
			err := s.lastErr
			s.mu.Unlock()
			return Token{}, err
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
			s.cur, s.lastErr, s.failures = t, nil, 0
			// Renewed with minRemaining left (the SDKs' margin), or, for a
			// token that does not even live that long (a federated one
			// may live 5 minutes), at half its life.
			margin := s.minRemaining
			if life := t.Expiry.Sub(s.clock.Now()); life <= margin {
				margin = life / 2
			}
			s.renewAt = t.Expiry.Add(-margin)
		} else {
			s.lastErr = err
			s.failures++
			s.retryAt = s.clock.Now().Add(min(maxBackoff, time.Second<<min(s.failures-1, 5)))
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

// maxBackoff bounds the wait after failed fetches: 1 s, doubling.
const maxBackoff = 30 * time.Second

// ErrExchangeRefused marks a token exchange the workspace refused: the
// JWT does not match a federation policy, or has expired.
var ErrExchangeRefused = errors.New("the workspace refused the token exchange")

func (s *ClientCredentials) fetch(ctx context.Context) (Token, error) {
	asked := s.clock.Now()
	cfg := s.cfg
	if s.exchange != nil {
		params, err := s.exchange(ctx)
		if err != nil {
			return Token{}, err
		}
		cfg.EndpointParams, cfg.AuthStyle, cfg.ClientSecret = params, oauth2.AuthStyleInParams, ""
	}
	ot, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.client))
	if err != nil {
		var re *oauth2.RetrieveError
		if s.exchange != nil && errors.As(err, &re) && re.Response != nil && re.Response.StatusCode/100 == 4 {
			return Token{}, fmt.Errorf("%w: %s (%s)", ErrExchangeRefused, remotetext.Clip(re.ErrorDescription), remotetext.Clip(re.ErrorCode))
		}
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
	s.cur, s.got, s.renewAt = Token{}, s.clock.Now(), time.Time{}
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
