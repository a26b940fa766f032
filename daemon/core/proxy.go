package core

import (
	"context"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// ProxyInfo describes a profile's local authenticating proxy.
type ProxyInfo struct {
	Profile, URL, Host string
	Requests           int64
}

// Proxies serves, lists and ends local proxies: the proxy adapter
// (daemon/adapter/proxy), which asks the core for each request's token.
type Proxies interface {
	Start(ctx context.Context, profile, host string, pathSecret bool) (ProxyInfo, error)
	List() []ProxyInfo
	Stop(profile string) (ProxyInfo, error)
}

// StartProxy serves profile's proxy, or returns the one served.
func (s *Service) StartProxy(ctx context.Context, profile string, pathSecret bool) (ProxyInfo, error) {
	if s.proxies == nil {
		return ProxyInfo{}, errkind.New(errkind.Disabled, "this dbx-credd serves no local proxies")
	}
	var host string
	for _, p := range s.profiles.List() {
		if p.Name == profile {
			host = p.Host
		}
	}
	if host == "" {
		return ProxyInfo{}, s.fail(ctx, "start proxy", profile, s.profiles.Known(profile))
	}
	info, err := s.proxies.Start(ctx, profile, host, pathSecret)
	if err != nil {
		return ProxyInfo{}, s.fail(ctx, "start proxy", profile, err)
	}
	return info, nil
}

// ListProxies lists the proxies being served.
func (s *Service) ListProxies() []ProxyInfo {
	if s.proxies == nil {
		return nil
	}
	return s.proxies.List()
}

// StopProxy ends profile's proxy.
func (s *Service) StopProxy(ctx context.Context, profile string) (ProxyInfo, error) {
	if s.proxies == nil {
		return ProxyInfo{}, errkind.New(errkind.Disabled, "this dbx-credd serves no local proxies")
	}
	info, err := s.proxies.Stop(profile)
	if err != nil {
		return ProxyInfo{}, s.fail(ctx, "stop proxy", profile, err)
	}
	return info, nil
}
