package main

import (
	"slices"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

func TestChangedKeysAndWhatNeedsARestart(t *testing.T) {
	a := config.Default()
	b := config.Default()
	b.Listen = "127.0.0.1:21"
	b.Limits.MaxSessions = 5
	b.Limits.MaxHandshakesPerIP = 2
	b.Log.Level = "debug"
	b.Log.Format = "json"
	b.Users = append(b.Users, config.User{Name: "bob", Password: "x"})
	got := changedKeys(a, b)
	want := []string{"listen", "users", "log.level", "log.format", "limits.max_sessions", "limits.max_handshakes_per_ip"}
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("%q not among the changed keys %q", k, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("changed keys %q, want %q", got, want)
	}
	for k, reload := range map[string]bool{"users": true, "limits.max_sessions": true, "log.level": true,
		"banner": true, "auth.http.url": true, "listen": false, "log.format": false, "store.s3.bucket": false,
		"limits.max_handshakes_per_ip": false, "cluster.redis.addrs": false, "tls.cert_file": false} {
		if isReloadable(k) != reload {
			t.Errorf("isReloadable(%q) = %v", k, !reload)
		}
	}
	added, removed, changed := userChanges([]config.User{{Name: "a", Password: "1"}, {Name: "c"}},
		[]config.User{{Name: "a", Password: "2"}, {Name: "b"}})
	if !slices.Equal(added, []string{"b"}) || !slices.Equal(removed, []string{"c"}) || !slices.Equal(changed, []string{"a"}) {
		t.Errorf("added %q removed %q changed %q", added, removed, changed)
	}
}
