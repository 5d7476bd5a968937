// Package certs loads the FTPS certificate from PEM files (reloadable, so
// SIGHUP can swap it without dropping sessions) or makes a self-signed one.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// Source hands out the current certificate (tls.Config.GetCertificate).
type Source struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads a PEM certificate chain and key; the error names the files.
func Load(certFile, keyFile string) (*Source, error) {
	s := &Source{certFile: certFile, keyFile: keyFile}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again; on error the current certificate stays.
func (s *Source) Reload() error {
	if s.certFile == "" {
		return nil // self-signed: nothing to reload
	}
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s / key %s: %w", s.certFile, s.keyFile, err)
	}
	if c.Leaf != nil && time.Now().After(c.Leaf.NotAfter) {
		return fmt.Errorf("tls certificate %s expired on %s", s.certFile, c.Leaf.NotAfter.Format(time.DateOnly))
	}
	s.cur.Store(&c)
	return nil
}

// GetCertificate is for tls.Config.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// Fingerprint is the SHA-256 of the current leaf certificate, hex.
func (s *Source) Fingerprint() string {
	c := s.cur.Load()
	if c == nil || len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// SelfSigned makes a P-256 certificate for hosts (names or IPs), valid for
// a year.
func SelfSigned(hosts ...string) (*Source, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "s3ftpd self-signed"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	s := &Source{}
	s.cur.Store(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf})
	return s, nil
}

// ServerConfig is the FTPS server configuration: TLS 1.2 or newer, Go's
// modern cipher suites, ALPN "ftp" (RFC 7301 registry), session tickets on
// (data connections resume the control connection's session).
func ServerConfig(src *Source) *tls.Config {
	return &tls.Config{
		GetCertificate: src.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"ftp"},
	}
}
