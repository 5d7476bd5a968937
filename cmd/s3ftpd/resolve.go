package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// resolved caches the IPv4 address of a DNS name for a minute; on a failed
// lookup the last good address is kept.
type resolved struct {
	name string
	log  *slog.Logger

	mu   sync.Mutex
	ip   netip.Addr
	when time.Time
}

func (r *resolved) get() (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ip.IsValid() && time.Since(r.when) < time.Minute {
		return r.ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", r.name)
	if err != nil || len(ips) == 0 {
		if r.ip.IsValid() {
			r.log.Warn("passive address lookup failed; keeping the last one", "name", r.name, "err", err)
			return r.ip, nil
		}
		return netip.Addr{}, fmt.Errorf("resolving passive address %s: %v", r.name, err)
	}
	r.ip, r.when = ips[0].Unmap(), time.Now()
	return r.ip, nil
}
