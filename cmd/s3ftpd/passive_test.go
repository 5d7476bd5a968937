package main

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

func TestPassiveAddressChoice(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ip := netip.MustParseAddr
	local := ip("203.0.113.10") // what the client dialled
	for _, tc := range []struct {
		name   string
		p      config.Passive
		client netip.Addr
		want   netip.Addr
	}{
		{"control", config.Passive{Address: "control"}, ip("198.51.100.1"), local},
		{"fixed", config.Passive{Address: "192.0.2.1"}, ip("198.51.100.1"), ip("192.0.2.1")},
		{"override matches", config.Passive{Address: "192.0.2.1", AddressOverrides: []config.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.1.2.3"}}}, ip("10.9.9.9"), ip("10.1.2.3")},
		{"override misses", config.Passive{Address: "192.0.2.1", AddressOverrides: []config.AddressOverride{{CIDR: "10.0.0.0/8", Address: "10.1.2.3"}}}, ip("198.51.100.1"), ip("192.0.2.1")},
		{"override to control", config.Passive{Address: "192.0.2.1", AddressOverrides: []config.AddressOverride{{CIDR: "10.0.0.0/8", Address: "control"}}}, ip("10.9.9.9"), local},
		{"dns", config.Passive{Address: "localhost"}, ip("198.51.100.1"), ip("127.0.0.1")},
	} {
		pick, err := newPassiveIP(tc.p, quiet)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := local // nil: the server uses the dialled address
		if pick != nil {
			if got, err = pick(tc.client, local); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if got != tc.want {
			t.Errorf("%s: PASV address %v, want %v", tc.name, got, tc.want)
		}
	}
}
