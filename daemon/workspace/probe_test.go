package workspace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A workspace whose clock is an hour ahead, over real HTTP; and a real TLS
// server whose certificate no system root signs.
func TestProbeHostSkewAndTLS(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set("Date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.Write([]byte(`{"userName":"a@b.com"}`))
	}))
	defer srv.Close()
	p := ProbeHost(context.Background(), srv.URL, "dapi-probe", 5*time.Second)
	if p.DNSErr != nil || p.TLS || p.MeStatus != 200 || auth != "Bearer dapi-probe" {
		t.Fatalf("probe: %+v, auth %q", p, auth)
	}
	if !p.HasDate || p.Skew > -59*time.Minute || p.Skew < -61*time.Minute {
		t.Fatalf("skew %v, want about -1h", p.Skew)
	}

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	p = ProbeHost(context.Background(), tlsSrv.URL, "dapi-probe", 5*time.Second)
	if !p.TLS || p.TLSErr == nil || p.MeStatus != 0 {
		t.Fatalf("untrusted TLS: %+v", p)
	}
	if strings.Contains(p.TLSErr.Error(), "dapi-probe") {
		t.Fatal("the TLS error names the token")
	}
}
