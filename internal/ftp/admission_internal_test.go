package ftp

import (
	"net/netip"
	"testing"
)

// Per-IP limits count an IPv6 client by its /64, an IPv4 one as is.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.5":               "127.0.0.5",
		"::ffff:127.0.0.5":        "127.0.0.5",
		"2001:db8:1:2::1":         "2001:db8:1:2::",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::",
		"::1":                     "::",
	} {
		if got := clientKey(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}
