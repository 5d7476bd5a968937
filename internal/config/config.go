// Package config is s3ftpd's typed configuration: the zero-setup defaults,
// loading them overlaid with a YAML file, and a Validate that reports every
// problem at once, each naming its field path.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// Config is the whole configuration. The zero value is not useful; start
// from Default() (Load and Parse do).
type Config struct {
	// Listen is the control connection's listen address, host:port.
	Listen   string   `yaml:"listen"`
	Passive  Passive  `yaml:"passive"`
	Active   Active   `yaml:"active"`
	Timeouts Timeouts `yaml:"timeouts"`
	Store    Store    `yaml:"store"`
	// Uploads: what an interrupted upload leaves (storage.go).
	Uploads Uploads `yaml:"uploads"`
	// Users who may log in. When a file has no users key at all and the
	// store is embedded, the single demo/demo user of Default() stays.
	Users []User `yaml:"users"`
	// Groups: policy defaults shared by users (and hook profiles) that
	// name them (policy.go).
	Groups []Group `yaml:"groups"`
	Log    Log     `yaml:"log"`

	// ProxyProtocol: PROXY v1/v2 headers from load balancers (lb.go).
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol"`
	// Ops serves /healthz and /readyz for load balancers.
	Ops Ops `yaml:"ops"`
	// Limits on sessions and login attempts.
	Limits Limits `yaml:"limits"`
	// DrainTimeout bounds how long transfers in flight may finish after
	// SIGTERM/SIGINT before the process exits.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// TLS configures FTPS (tls.go).
	TLS TLS `yaml:"tls"`
	// Cluster: several nodes behind one load balancer (cluster.go).
	Cluster Cluster `yaml:"cluster"`
	// Auth: an external authentication hook (auth.go).
	Auth Auth `yaml:"auth"`
	// Banner is the text of the 220 greeting; several lines make a
	// multi-line reply (RFC 959 §4.2). Empty: "s3ftpd ready.".
	Banner string `yaml:"banner"`
}

// Passive configures PASV/EPSV (RFC 959, RFC 2428).
type Passive struct {
	// Ports the server listens on for passive data connections.
	Ports PortRange `yaml:"ports"`
	// Address advertised in PASV replies: an IP literal, a DNS name
	// (re-resolved every minute), or "control". Empty and "control" both
	// mean the address the client dialled for its control connection (the
	// PROXY header's destination, else the local address).
	Address string `yaml:"address"`
	// AddressOverrides pick another advertised address for clients in a
	// CIDR (internal clients vs public ones); first match wins.
	AddressOverrides []AddressOverride `yaml:"address_overrides"`
	// ListenIP binds the passive ports; empty means the control listener's
	// IP, so another node or a LB can use the same ports on another address.
	ListenIP string `yaml:"listen_ip"`
	// TrustLBCIDRs: data connections from these load balancer addresses
	// (without a PROXY header) are accepted only when exactly one session
	// waits on that port. There is no "accept from anyone" switch.
	TrustLBCIDRs []string `yaml:"trust_lb_cidrs"`
}

// Active configures PORT/EPRT (RFC 959, RFC 2428).
type Active struct {
	// Enabled allows PORT/EPRT. They only ever connect to the control
	// connection's client IP.
	Enabled bool `yaml:"enabled"`
}

// Timeouts of a session. YAML takes Go durations: "30s", "5m", "1h30m".
type Timeouts struct {
	// Idle closes a control connection with no command for this long.
	Idle time.Duration `yaml:"idle"`
	// DataAccept is how long to wait for the data connection to arrive.
	DataAccept time.Duration `yaml:"data_accept"`
	// TransferStall aborts a transfer that moved no byte for this long,
	// and is the window of MinRate.
	TransferStall time.Duration `yaml:"transfer_stall"`
	// MinRate (bytes per second, "1KiB") aborts a transfer that moved
	// fewer than MinRate × TransferStall bytes in the last TransferStall
	// (426); 0: only the no-byte rule. A bandwidth limit below twice it
	// lowers it to half that limit.
	MinRate Size `yaml:"min_rate"`
	// LoginFailDelay is waited before answering a failed login.
	LoginFailDelay time.Duration `yaml:"login_fail_delay"`
	// Login is the most time from connect to a successful login, whatever
	// the client sends meanwhile (421 then close).
	Login time.Duration `yaml:"login"`
	// Handshake bounds a control connection's TLS handshake (implicit
	// FTPS, AUTH TLS) and the wait for a trusted LB's PROXY header.
	Handshake time.Duration `yaml:"handshake"`
	// Keepalive is the TCP keepalive idle time on control connections;
	// it must stay below AWS NLB's 350s idle timeout.
	Keepalive time.Duration `yaml:"keepalive"`
}

// Store selects and configures the storage. It is the embedded store unless
// S3.Bucket is set.
type Store struct {
	Embedded Embedded `yaml:"embedded"`
	S3       S3       `yaml:"s3"`
}

// Embedded configures the in-process S3-compatible store.
type Embedded struct {
	// Dir holds the stored files.
	Dir string `yaml:"dir"`
	// Listen is the store's host:port; empty means a free loopback port.
	Listen string `yaml:"listen"`
	// AccessKey and SecretKey are generated when both are empty.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
}

// S3 configures an external S3 or S3-compatible store. PartSize,
// Concurrency and BufferBudget also apply to the embedded store.
type S3 struct {
	Bucket   string `yaml:"bucket"`
	Prefix   string `yaml:"prefix"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses the bucket as endpoint/bucket, not bucket.endpoint.
	PathStyle bool `yaml:"path_style"`
	// AccessKey and SecretKey are static credentials (both or neither);
	// when empty the SDK's default credential chain is used.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// PartSize of multipart uploads: 5 MiB to 5 GiB.
	PartSize Size `yaml:"part_size"`
	// Concurrency is how many parts of one upload are sent at once: 1 to 64.
	Concurrency int `yaml:"concurrency"`
	// BufferBudget bounds the memory of all uploads of the process
	// together; at least two parts.
	BufferBudget Size `yaml:"buffer_budget"`
	// BufferWait bounds a transfer's wait for buffer memory (upload:
	// 452; download: 451).
	BufferWait time.Duration `yaml:"buffer_wait"`
	// BufferIPShare, BufferUserShare and BufferSessionShare: the percent
	// of BufferBudget one client IP (IPv6: its /64), one user and one
	// upload may hold; 100: no cap. Never less than one part.
	BufferIPShare      int `yaml:"buffer_ip_share"`
	BufferUserShare    int `yaml:"buffer_user_share"`
	BufferSessionShare int `yaml:"buffer_session_share"`
	// StallTimeout fails a request to the store that made no progress (no
	// byte sent or received, no answer) for this long; a transfer that
	// keeps moving bytes is never cut. Applies to the embedded store too.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// Object properties of every stored object (storage.go); they apply
	// to the embedded store too.
	Object ObjectProps `yaml:"object"`
}

// User is one login. Exactly one of Password and PasswordHash (bcrypt) is
// set. What the user may do and gets is its Policy, over the defaults of
// its Group (policy.go).
type User struct {
	Name         string `yaml:"name" json:"-"`
	Password     string `yaml:"password" json:"-"`
	PasswordHash string `yaml:"password_hash" json:"-"`
	// Group names an entry of groups: whose policy fills what the user's
	// own leaves unset.
	Group  string `yaml:"group" json:"group"`
	Policy `yaml:",inline"`
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
	// XferLog is a file that gets a line per file transfer in the
	// xferlog(5) format (vsftpd's, proftpd's); reopened on SIGHUP. Empty:
	// none.
	XferLog string `yaml:"xferlog"`
}

// Default is the zero-setup configuration: the embedded store under
// ./s3ftpd-data, listening on loopback, with one user demo/demo.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:2121",
		Passive: Passive{
			Ports: PortRange{First: 50000, Last: 50099},
		},
		Active: Active{Enabled: true},
		Timeouts: Timeouts{
			Idle:           5 * time.Minute,
			DataAccept:     30 * time.Second,
			TransferStall:  2 * time.Minute,
			MinRate:        KiB,
			LoginFailDelay: time.Second,
			Login:          time.Minute,
			Handshake:      10 * time.Second,
			Keepalive:      60 * time.Second,
		},
		Store: Store{
			Embedded: Embedded{Dir: "./s3ftpd-data"},
			S3: S3{
				PartSize:           5 * MiB,
				Concurrency:        4,
				BufferBudget:       256 * MiB,
				BufferWait:         30 * time.Second,
				BufferIPShare:      25,
				BufferUserShare:    100,
				BufferSessionShare: 25,
				StallTimeout:       60 * time.Second,
			},
		},
		Uploads: Uploads{Atomic: true, ResumeWindow: 24 * time.Hour, MFMTMaxSize: 256 * MiB},
		Users:   []User{{Name: "demo", Password: "demo", Policy: Policy{Home: "/"}}},
		Log:     Log{Level: "info", Format: "text"},
		Limits: Limits{
			MaxSessions:        10000,
			MaxSessionsPerIP:   100,
			LoginFailuresPerIP: 20,
			MaxHandshakesPerIP: 8,
			LoginFailuresTotal: 300,
			DownloadBuffers:    256 * MiB,
			DownloadIPShare:    25,
			DownloadUserShare:  100,
			MaxHashBytes:       1 * GiB,
		},
		DrainTimeout: 30 * time.Second,
		TLS:          TLS{Control: "optional", Data: "optional", RequireSessionReuse: true},
	}
}

// Load reads the YAML file at path, overlays it on Default(), then the
// S3FTPD_… environment overrides (env.go), and validates the result.
// Relative file paths in the file are taken against the file's directory
// (paths.go). The error lists every problem found (errors.Join of
// *FieldError, plus YAML syntax errors).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseWith(data, ParseOptions{Dir: dir, Env: os.LookupEnv})
}

// ParseOptions say where a config comes from.
type ParseOptions struct {
	// Dir is the config file's directory: relative file paths written in
	// the file are taken against it. "": left as they are.
	Dir string
	// Env looks up environment overrides (os.LookupEnv); nil: none.
	Env func(string) (string, bool)
}

// Parse is Load from bytes, without environment overrides; relative paths
// stay as written. Keys not known to Config are errors.
func Parse(data []byte) (Config, error) { return ParseWith(data, ParseOptions{}) }

// ParseWith is Parse with a directory for relative paths and environment
// overrides.
func ParseWith(data []byte, o ParseOptions) (Config, error) {
	cfg := Default()
	root, err := parseYAML(data)
	if err != nil {
		return Config{}, err
	}
	d := decoder{lines: map[string]int{}, fromEnv: map[string]string{}}
	if root != nil {
		d.value(root, &cfg, "")
	}
	d.resolvePaths(&cfg, o.Dir)
	if o.Env != nil {
		d.env(reflect.ValueOf(&cfg).Elem(), "", o.Env)
	}
	// The demo user only stands when nobody configured users and the store
	// is the embedded one; an S3 store needs explicit users.
	if _, given := d.lines["users"]; !given && !cfg.UseEmbedded() {
		cfg.Users = nil
	}
	errs := d.errs
	if err := cfg.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			var fe *FieldError
			if errors.As(e, &fe) && fe.Line == 0 {
				if name, ok := d.fromEnv[fe.Field]; ok {
					fe.Msg += " (from $" + name + ")"
				} else {
					fe.Line = d.line(fe.Field)
				}
			}
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// UseEmbedded reports whether the embedded store is used: S3.Bucket is empty.
func (s Store) UseEmbedded() bool { return s.S3.Bucket == "" }

// UseEmbedded is c.Store.UseEmbedded().
func (c *Config) UseEmbedded() bool { return c.Store.UseEmbedded() }

// SlogLevel is Level as a slog.Level (info when unknown).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Handler is a slog handler writing to w in Format at Level.
func (l Log) Handler(w io.Writer) slog.Handler { return l.HandlerAt(w, l.SlogLevel()) }

// HandlerAt is Handler at the given level (a *slog.LevelVar changes it
// while running).
func (l Log) HandlerAt(w io.Writer, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// FieldError is one configuration problem.
type FieldError struct {
	// Field is the YAML path, e.g. "passive.ports" or "users[1].home".
	Field string
	// Line in the YAML file, 0 when unknown (a Config built in Go, or a
	// default value).
	Line int
	Msg  string
}

func (e *FieldError) Error() string {
	field := e.Field
	if field == "" {
		field = "config"
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, field, e.Msg)
	}
	return field + ": " + e.Msg
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

const redacted = "REDACTED"

// String hides the password and its hash, so that printing or logging a
// User (or a Config holding it) never shows them.
func (u User) String() string {
	type plain User
	if u.Password != "" {
		u.Password = redacted
	}
	if u.PasswordHash != "" {
		u.PasswordHash = redacted
	}
	return fmt.Sprintf("%+v", plain(u))
}

// GoString is String, for %#v.
func (u User) GoString() string { return u.String() }

// String hides the secret key.
func (e Embedded) String() string {
	type plain Embedded
	if e.SecretKey != "" {
		e.SecretKey = redacted
	}
	return fmt.Sprintf("%+v", plain(e))
}

// GoString is String, for %#v.
func (e Embedded) GoString() string { return e.String() }

// String hides the secret key.
func (s S3) String() string {
	type plain S3
	if s.SecretKey != "" {
		s.SecretKey = redacted
	}
	return fmt.Sprintf("%+v", plain(s))
}

// GoString is String, for %#v.
func (s S3) GoString() string { return s.String() }
