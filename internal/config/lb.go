package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// ProxyProtocol configures PROXY protocol v1/v2 on the control listener
// and every passive port.
type ProxyProtocol struct {
	// Trusted lists the CIDRs (or single IPs) of load balancers whose
	// PROXY headers are believed. A header from anyone else is refused and
	// the connection closed. Empty: PROXY protocol is off.
	Trusted []string `yaml:"trusted"`
	// Required: connections from trusted addresses must start with a
	// header, and connections from any other address are refused.
	Required bool `yaml:"required"`
}

// AddressOverride advertises Address in PASV to clients within CIDR.
type AddressOverride struct {
	CIDR    string `yaml:"cidr"`
	Address string `yaml:"address"`
}

// Ops configures the HTTP endpoints for load balancers and operators.
type Ops struct {
	// Listen is host:port for /healthz and /readyz; empty: off.
	Listen string `yaml:"listen"`
}

// Limits protect the server from one client or from too many.
type Limits struct {
	// MaxSessions is the most control connections at once (0: no limit).
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerIP is the most control connections from one real
	// client IP (0: no limit).
	MaxSessionsPerIP int `yaml:"max_sessions_per_ip"`
	// LoginFailuresPerIP failed logins within a minute make further login
	// attempts from that IP wait until the minute is over (0: no limit).
	LoginFailuresPerIP int `yaml:"login_failures_per_ip"`
	// AllowedCIDRs: logins only from these client addresses, for every
	// user (checked before the password; 530); empty: any.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// MaxFileSize: the largest file an upload may make (552); 0: none.
	MaxFileSize Size `yaml:"max_file_size"`
	// MaxSessionsPerUser: logged-in sessions of one user on one node
	// (421); 0: no limit.
	MaxSessionsPerUser int `yaml:"max_sessions_per_user"`
	// Bandwidth defaults of every user.
	Bandwidth Bandwidth `yaml:"bandwidth"`
	// MaxHandshakesPerIP bounds the implicit-FTPS TLS handshakes running
	// at once for one client IP.
	MaxHandshakesPerIP int `yaml:"max_handshakes_per_ip"`
	// LoginFailuresTotal failed logins within a minute in the process make
	// clients that failed in that minute wait it out (421, no password
	// check); clients with no failure are still checked (0: no limit).
	LoginFailuresTotal int `yaml:"login_failures_total"`
	// DownloadBuffers bounds the memory of download copy buffers (256 KiB
	// per RETR) in the process; DownloadIPShare and DownloadUserShare are
	// the percent of it one client IP and one user may hold (100: no cap).
	// A RETR waits store.s3.buffer_wait for a buffer, then gets 451.
	DownloadBuffers   Size `yaml:"download_buffers"`
	DownloadIPShare   int  `yaml:"download_ip_share"`
	DownloadUserShare int  `yaml:"download_user_share"`
	// MaxHashBytes: the most bytes one HASH/XCRC/XMD5/XSHA1/XSHA256 reads
	// and hashes (504 beyond; a checksum S3 keeps answers at any size);
	// 0: no limit.
	MaxHashBytes Size `yaml:"max_hash_bytes"`
	// Every per-IP limit counts an IPv6 client per /64.
}

func (b Bandwidth) negative() bool {
	return b.UpPerSession < 0 || b.DownPerSession < 0 || b.UpPerUser < 0 || b.DownPerUser < 0
}

// Bandwidth limits, in bytes per second ("1MiB" is 1 MiB/s); 0: none.
// Per session, and per user for all its sessions on one node together.
type Bandwidth struct {
	UpPerSession   Size `yaml:"up_per_session" json:"up_per_session"`
	DownPerSession Size `yaml:"down_per_session" json:"down_per_session"`
	UpPerUser      Size `yaml:"up_per_user" json:"up_per_user"`
	DownPerUser    Size `yaml:"down_per_user" json:"down_per_user"`
}

// ParseCIDRs parses CIDRs or single IPs (as /32 or /128).
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q: not a CIDR", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: not an IP or CIDR", s)
	}
	return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
}

func (v *validator) lb(c *Config) {
	for i, s := range c.ProxyProtocol.Trusted {
		if _, err := parseCIDR(s); err != nil {
			v.add(fmt.Sprintf("proxy_protocol.trusted[%d]", i), "%v", err)
		}
	}
	if c.ProxyProtocol.Required && len(c.ProxyProtocol.Trusted) == 0 {
		v.add("proxy_protocol.required", "needs proxy_protocol.trusted (who may send headers)")
	}
	for i, s := range c.Limits.AllowedCIDRs {
		if _, err := parseCIDR(s); err != nil {
			v.add(fmt.Sprintf("limits.allowed_cidrs[%d]", i), "%v", err)
		}
	}
	for i, s := range c.Passive.TrustLBCIDRs {
		if _, err := parseCIDR(s); err != nil {
			v.add(fmt.Sprintf("passive.trust_lb_cidrs[%d]", i), "%v", err)
		}
	}
	for i, o := range c.Passive.AddressOverrides {
		f := fmt.Sprintf("passive.address_overrides[%d]", i)
		if _, err := parseCIDR(o.CIDR); err != nil || !strings.Contains(o.CIDR, "/") {
			v.add(f+".cidr", "%q: want a CIDR like 10.0.0.0/8", o.CIDR)
		}
		if o.Address != "control" && !isIP(o.Address) && !isDNSName(o.Address) {
			v.add(f+".address", "%q: want an IP address, a DNS name or \"control\"", o.Address)
		}
	}
	if ip := c.Passive.ListenIP; ip != "" && !isIP(ip) {
		v.add("passive.listen_ip", "%q: want an IP address", ip)
	}
	if c.Limits.MaxHashBytes < 0 {
		v.add("limits.max_hash_bytes", "must not be negative (0 means no limit)")
	}
	if c.Limits.MaxFileSize < 0 || c.Limits.Bandwidth.negative() {
		v.add("limits.bandwidth", "max_file_size and bandwidth must not be negative")
	}
	v.listen("ops.listen", c.Ops.Listen, true)
	if c.DrainTimeout < 0 {
		v.add("drain_timeout", "must not be negative")
	}
	for f, n := range map[string]int{
		"limits.max_sessions":          c.Limits.MaxSessions,
		"limits.max_sessions_per_ip":   c.Limits.MaxSessionsPerIP,
		"limits.login_failures_per_ip": c.Limits.LoginFailuresPerIP,
		"limits.max_sessions_per_user": c.Limits.MaxSessionsPerUser,
		"limits.login_failures_total":  c.Limits.LoginFailuresTotal,
	} {
		if n < 0 {
			v.add(f, "must not be negative (0 means no limit)")
		}
	}
	if c.Limits.DownloadBuffers < 256*KiB {
		v.add("limits.download_buffers", "%v: must hold at least one 256KiB download buffer", c.Limits.DownloadBuffers)
	}
	v.share("limits.download_ip_share", c.Limits.DownloadIPShare)
	v.share("limits.download_user_share", c.Limits.DownloadUserShare)
	if c.Limits.MaxHandshakesPerIP <= 0 {
		v.add("limits.max_handshakes_per_ip", "%d: must be above zero", c.Limits.MaxHandshakesPerIP)
	}
}
