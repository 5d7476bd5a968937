package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

// passiveBindIP is passive.listen_ip, else the control listener's IP; an
// unspecified or host-name listen address binds all addresses.
func passiveBindIP(cfg config.Config) netip.Addr {
	host := cfg.Passive.ListenIP
	if host == "" {
		host, _, _ = net.SplitHostPort(cfg.Listen)
	}
	ip, _ := netip.ParseAddr(host)
	return ip
}

// newPassiveIP builds the PASV address chooser from passive.address and
// its per-CIDR overrides: a fixed IP, a DNS name re-resolved every minute,
// or "control"/empty for the address the client dialled (the PROXY
// header's destination, else the local address).
func newPassiveIP(p config.Passive, log *slog.Logger) (func(client, local netip.Addr) (netip.Addr, error), error) {
	type rule struct {
		cidr netip.Prefix
		pick func(local netip.Addr) (netip.Addr, error)
	}
	var rules []rule
	for _, o := range p.AddressOverrides {
		cidr, err := netip.ParsePrefix(o.CIDR)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule{cidr.Masked(), addressPicker(o.Address, log)})
	}
	def := addressPicker(p.Address, log)
	if len(rules) == 0 && (p.Address == "" || p.Address == "control") {
		return nil, nil // the ftp server's default: the dialled address
	}
	return func(client, local netip.Addr) (netip.Addr, error) {
		for _, r := range rules {
			if r.cidr.Contains(client) {
				return r.pick(local)
			}
		}
		return def(local)
	}, nil
}

func addressPicker(address string, log *slog.Logger) func(local netip.Addr) (netip.Addr, error) {
	if address == "" || address == "control" {
		return func(local netip.Addr) (netip.Addr, error) { return local, nil }
	}
	if ip, err := netip.ParseAddr(address); err == nil {
		return func(netip.Addr) (netip.Addr, error) { return ip, nil }
	}
	r := &resolved{name: address, log: log}
	return func(netip.Addr) (netip.Addr, error) { return r.get() }
}

// serveOps serves the ops endpoints on addr (IPv4 or IPv6; "[::]:port"
// takes both) until the returned stop is called.
func serveOps(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops server failed", "err", err)
		}
	}()
	log.Info("serving ops endpoints (/healthz /readyz /metrics /status)", "listen", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}
