package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// fieldErrors splits a joined error into its *FieldErrors, failing the test
// on any other kind.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("want errors, got nil")
	}
	var out []*FieldError
	for _, e := range unwrapAll(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is not a *FieldError", e)
		}
		out = append(out, fe)
	}
	return out
}

// wantField checks that errs has an error on field whose text contains every
// one of subs.
func wantField(t *testing.T, errs []*FieldError, field string, subs ...string) *FieldError {
	t.Helper()
next:
	for _, e := range errs {
		if e.Field != field {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(e.Error(), s) {
				continue next
			}
		}
		return e
	}
	t.Errorf("no error on %s containing %q; got:\n%s", field, subs, joinErrs(errs))
	return nil
}

func joinErrs(errs []*FieldError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %v\n", e)
	}
	return b.String()
}

func mustParse(t *testing.T, yml string) Config {
	t.Helper()
	c, err := Parse([]byte(yml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaultValidates(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if !d.UseEmbedded() {
		t.Error("Default() does not use the embedded store")
	}
	if len(d.Users) != 1 || d.Users[0].Name != "demo" || d.Users[0].Password != "demo" || d.Users[0].Home != "/" {
		t.Errorf("Default().Users = %v, want demo/demo at /", d.Users)
	}
	if d.Timeouts.Keepalive >= NLBIdleTimeout {
		t.Errorf("default keepalive %v not below %v", d.Timeouts.Keepalive, NLBIdleTimeout)
	}
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", in, c)
		}
	}
}

func TestLoadOverlaysFile(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "s3ftpd.yaml")
	yml := `
listen: ":21"
passive:
  ports: "40000-40009"
  address: ftp.example.com
active:
  enabled: false
timeouts:
  idle: 90s
  data_accept: 1m30s
store:
  s3:
    bucket: my-bucket
    prefix: ftp/
    region: eu-west-1
    endpoint: http://127.0.0.1:9000
    path_style: true
    access_key: AK
    secret_key: SK
    part_size: 16MiB
    concurrency: 8
    buffer_budget: 1GiB
users:
  - name: alice
    password: secret
  - name: bob
    password_hash: '` + string(hash) + `'
    home: /bob/
    read_only: true
log:
  level: debug
  format: json
`
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.Listen = ":21"
	want.Passive = Passive{Ports: PortRange{40000, 40009}, Address: "ftp.example.com"}
	want.Active.Enabled = false
	want.Timeouts.Idle = 90 * time.Second
	want.Timeouts.DataAccept = 90 * time.Second
	want.Store.S3 = S3{
		Bucket: "my-bucket", Prefix: "ftp/", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000",
		PathStyle: true, AccessKey: "AK", SecretKey: "SK",
		PartSize: 16 * MiB, Concurrency: 8, BufferBudget: GiB, StallTimeout: 60 * time.Second,
		BufferWait: 30 * time.Second, BufferIPShare: 25, BufferUserShare: 100, BufferSessionShare: 25,
	}
	want.Users = []User{
		{Name: "alice", Password: "secret", Policy: Policy{Home: "/"}},
		{Name: "bob", PasswordHash: string(hash), Policy: Policy{Home: "/bob", ReadOnly: true}},
	}
	want.Log = Log{Level: "debug", Format: "json"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if c.UseEmbedded() {
		t.Error("UseEmbedded with a bucket set")
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestEveryMistakeReported(t *testing.T) {
	yml := `listen: "127.0.0.1"
passive:
  ports: "5000-40"
  address: "not a host"
active:
  enabled: maybe
timeouts:
  idle: 30
  keepalive: 6m
  login_fail_delay: -1s
store:
  s3:
    bucket: bucket/with/prefix
    endpoint: "ftp://x"
    access_key: AK
    part_size: 1MiB
    concurrency: 100
    buffer_budget: 1XB
users:
  - name: "bad name"
    password: p1
    password_hash: "$2a$10$whatever"
    home: relative/dir
  - name: carol
    password_hash: "not-a-hash"
  - name: carol
    password: p2
    home: /a/../b
  - password: p3
  - name: dave
log:
  level: loud
  format: xml
  colour: true
`
	_, err := Parse([]byte(yml))
	errs := fieldErrors(t, err)
	want := []struct {
		field string
		line  int
		subs  []string
	}{
		{"listen", 1, []string{`"127.0.0.1"`, "host:port"}},
		{"passive.ports", 3, []string{`passive.ports: "5000-40": start > end`}},
		{"passive.address", 4, []string{`"not a host"`}},
		{"active.enabled", 6, []string{`"maybe"`, "true or false"}},
		{"timeouts.idle", 8, []string{`"30"`, "unit"}},
		{"timeouts.keepalive", 9, []string{"6m0s", "350s"}},
		{"timeouts.login_fail_delay", 10, []string{"negative"}},
		{"store.s3.bucket", 13, []string{"store.s3.prefix"}},
		{"store.s3.endpoint", 14, []string{`"ftp://x"`}},
		{"store.s3.access_key", 15, []string{"secret_key"}},
		{"store.s3.part_size", 16, []string{"1MiB", "5MiB"}},
		{"store.s3.concurrency", 17, []string{"100"}},
		{"store.s3.buffer_budget", 18, []string{`"1XB"`, "unit"}},
		{"users[0].name", 20, []string{`"bad name"`}},
		{"users[0].password_hash", 22, []string{"only one"}},
		{"users[0].home", 23, []string{`"relative/dir"`, "absolute"}},
		{"users[1].password_hash", 25, []string{`user "carol"`, "bcrypt"}},
		{"users[2].name", 26, []string{"duplicate", "users[1]"}},
		{"users[2].home", 28, []string{`"/a/../b"`, ".."}},
		{"users[3].name", 29, []string{"required"}},
		{"users[4].password", 30, []string{`user "dave"`, "password_hash"}},
		{"log.level", 32, []string{`"loud"`}},
		{"log.format", 33, []string{`"xml"`}},
		{"log.colour", 34, []string{"unknown key", "format, level"}},
	}
	for _, w := range want {
		if e := wantField(t, errs, w.field, w.subs...); e != nil && e.Line != w.line {
			t.Errorf("%s: line %d, want %d", w.field, e.Line, w.line)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(errs), len(want), joinErrs(errs))
	}
	for _, pw := range []string{"p1", "p2", "p3", "$2a$10$whatever", "not-a-hash"} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error text shows password or hash %q:\n%v", pw, err)
		}
	}
}

func TestUnknownAndDuplicateKeys(t *testing.T) {
	_, err := Parse([]byte("listen: \":2121\"\npassive:\n  prots: 1-2\nlisten: \":21\"\nusres: []\n"))
	errs := fieldErrors(t, err)
	if e := wantField(t, errs, "passive.prots", "unknown key", "address, address_overrides, listen_ip, ports, trust_lb_cidrs"); e != nil && e.Line != 3 {
		t.Errorf("passive.prots reported at line %d, want 3", e.Line)
	}
	wantField(t, errs, "listen", "line 4", "duplicate key (first at line 1)")
	wantField(t, errs, "usres", "line 5", "unknown key")
	if len(errs) != 3 {
		t.Errorf("got %d errors, want 3:\n%s", len(errs), joinErrs(errs))
	}

	// Structure in the wrong place.
	_, err = Parse([]byte("passive: 5\nusers:\n  name: x\nlisten: [a]\n"))
	errs = fieldErrors(t, err)
	wantField(t, errs, "passive", "want a mapping")
	wantField(t, errs, "users", "want a list")
	wantField(t, errs, "listen", "want a single value")

	for _, in := range []string{"listen: [", "a: 1\n---\nb: 2\n", "- 1\n- 2\n"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "512": 512, "512B": 512, "1KiB": KiB, "8MiB": 8 * MiB, "8 MiB": 8 * MiB,
		"8mib": 8 * MiB, "5GiB": 5 * GiB, "1KB": 1000, "10MB": 10_000_000, "2GB": 2_000_000_000,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5GiB", "8XB", "8 M", "99999999999GiB", "99999999999999999999"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for s, want := range map[Size]string{0: "0B", 8 * MiB: "8MiB", 5 * GiB: "5GiB", 3 * KiB: "3KiB", 5 * MB: "5MB", 1001: "1001B"} {
		if got := s.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), got, want)
		}
		if back, err := ParseSize(s.String()); err != nil || back != s {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s.String(), back, err, s)
		}
	}
	c := mustParse(t, "store:\n  s3:\n    part_size: 16777216\n    buffer_budget: \"1 GiB\"\n")
	if c.Store.S3.PartSize != 16*MiB || c.Store.S3.BufferBudget != GiB {
		t.Errorf("sizes = %v, %v; want 16MiB, 1GiB", c.Store.S3.PartSize, c.Store.S3.BufferBudget)
	}
	_, err := Parse([]byte("store:\n  s3:\n    part_size: 6GiB\n    buffer_budget: 10MiB\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "store.s3.part_size", "6GiB", "5GiB")
	wantField(t, errs, "store.s3.buffer_budget", "10MiB", "12GiB")
}

func TestDurations(t *testing.T) {
	c := mustParse(t, `
timeouts:
  idle: 1h30m
  data_accept: 45s
  transfer_stall: 5m
  login_fail_delay: 0s
  keepalive: 349s
`)
	want := Timeouts{
		Idle: 90 * time.Minute, DataAccept: 45 * time.Second, TransferStall: 5 * time.Minute,
		LoginFailDelay: 0, Keepalive: 349 * time.Second, Login: time.Minute, Handshake: 10 * time.Second,
		MinRate: KiB,
	}
	if c.Timeouts != want {
		t.Errorf("Timeouts = %+v, want %+v", c.Timeouts, want)
	}
	_, err := Parse([]byte("timeouts:\n  idle: 0s\n  data_accept: soon\n  keepalive: 350s\n  transfer_stall: {a: 1}\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "timeouts.idle", "above zero")
	wantField(t, errs, "timeouts.data_accept", `"soon"`)
	wantField(t, errs, "timeouts.keepalive", "350s")
	wantField(t, errs, "timeouts.transfer_stall", "want a duration")
}

// The admission keys: defaults, values, and each mistake named.
func TestAdmissionLimits(t *testing.T) {
	c := mustParse(t, `
timeouts:
  login: 30s
  handshake: 3s
limits:
  max_handshakes_per_ip: 4
  login_failures_total: 50
`)
	if c.Timeouts.Login != 30*time.Second || c.Timeouts.Handshake != 3*time.Second ||
		c.Limits.MaxHandshakesPerIP != 4 || c.Limits.LoginFailuresTotal != 50 {
		t.Errorf("got %+v %+v", c.Timeouts, c.Limits)
	}
	_, err := Parse([]byte("timeouts:\n  login: 0s\n  handshake: -1s\nlimits:\n  max_handshakes_per_ip: 0\n  login_failures_total: -1\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "timeouts.login", "above zero")
	wantField(t, errs, "timeouts.handshake", "above zero")
	wantField(t, errs, "limits.max_handshakes_per_ip", "above zero")
	wantField(t, errs, "limits.login_failures_total", "negative")
}

func TestPorts(t *testing.T) {
	for in, want := range map[string]PortRange{
		"ports: 50000-50099": {50000, 50099}, `ports: "40000 - 40001"`: {40000, 40001},
		"ports: 3000": {3000, 3000}, `ports: "1-65535"`: {1, 65535},
	} {
		in = "listen: 127.0.0.1:0\npassive:\n  " + in + "\n"
		if c := mustParse(t, in); c.Passive.Ports != want {
			t.Errorf("%q: Ports = %v, want %v", in, c.Passive.Ports, want)
		}
	}
	r := PortRange{10, 12}
	if r.Len() != 3 || !r.Contains(10) || !r.Contains(12) || r.Contains(13) || r.Contains(9) {
		t.Errorf("PortRange %v: Len %d, Contains wrong", r, r.Len())
	}
	for in, sub := range map[string]string{
		"a-b":         "first-last",
		"0-10":        "1 to 65535",
		"60000-70000": "1 to 65535",
		"2100-2200":   "listen port 2121",
	} {
		_, err := Parse([]byte("passive:\n  ports: " + in + "\n"))
		wantField(t, fieldErrors(t, err), "passive.ports", sub)
	}
	// Validate on a Config built in Go: no line, the exact documented form.
	c := Default()
	c.Passive.Ports = PortRange{5000, 40}
	errs := fieldErrors(t, c.Validate())
	if len(errs) != 1 || errs[0].Error() != `passive.ports: "5000-40": start > end` {
		t.Errorf("Validate = %q", joinErrs(errs))
	}
}

func TestAddresses(t *testing.T) {
	for _, a := range []string{"", "203.0.113.7", "::1", "ftp.example.com", "ftp.example.com.", "localhost", "lb-1"} {
		c := Default()
		c.Passive.Address = a
		if err := c.Validate(); err != nil {
			t.Errorf("passive.address %q: %v", a, err)
		}
	}
	for _, a := range []string{"10.0.0.256", "bad_name", "fe80::1%eth0", "-x.example", "a..b", " x"} {
		c := Default()
		c.Passive.Address = a
		wantField(t, fieldErrors(t, c.Validate()), "passive.address", fmt.Sprintf("%q", a))
	}
	for _, l := range []string{":2121", "[::1]:2121", "localhost:21", "0.0.0.0:0"} {
		c := Default()
		c.Listen = l
		if err := c.Validate(); err != nil {
			t.Errorf("listen %q: %v", l, err)
		}
	}
	for _, l := range []string{"", "2121", "127.0.0.1:ftp", "127.0.0.1:70000", "bad_host:21"} {
		c := Default()
		c.Listen = l
		wantField(t, fieldErrors(t, c.Validate()), "listen")
	}
}

func TestStore(t *testing.T) {
	// S3 settings without a bucket would be silently ignored.
	_, err := Parse([]byte("store:\n  s3:\n    region: us-east-1\n    path_style: true\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "store.s3.region", "bucket is empty")
	wantField(t, errs, "store.s3.path_style", "bucket is empty")

	// Embedded settings with a bucket likewise.
	_, err = Parse([]byte("store:\n  embedded:\n    listen: 127.0.0.1:9000\n  s3:\n    bucket: b\n    prefix: /ftp\nusers: [{name: a, password: b}]\n"))
	errs = fieldErrors(t, err)
	wantField(t, errs, "store.embedded.listen", "not used")
	wantField(t, errs, "store.s3.prefix", `"/ftp"`)
	if len(errs) != 2 {
		t.Errorf("got %d errors, want 2:\n%s", len(errs), joinErrs(errs))
	}

	_, err = Parse([]byte("store:\n  embedded:\n    dir: ''\n    listen: nope\n    secret_key: x\n"))
	errs = fieldErrors(t, err)
	wantField(t, errs, "store.embedded.dir", "required")
	wantField(t, errs, "store.embedded.listen", `"nope"`)
	wantField(t, errs, "store.embedded.access_key", "both")

	c := mustParse(t, "store:\n  embedded:\n    dir: /var/lib/s3ftpd\n    listen: 127.0.0.1:9000\n    access_key: k\n    secret_key: s\n")
	if !c.UseEmbedded() || c.Store.Embedded.Dir != "/var/lib/s3ftpd" {
		t.Errorf("embedded store = %+v", c.Store.Embedded)
	}
}

func TestUsersDefaulting(t *testing.T) {
	demo := []User{{Name: "demo", Password: "demo", Policy: Policy{Home: "/"}}}

	// Embedded store, no users key: the demo user.
	if c := mustParse(t, "listen: 127.0.0.1:2121\n"); !reflect.DeepEqual(c.Users, demo) {
		t.Errorf("embedded, no users key: Users = %v, want demo", c.Users)
	}
	// Users given: exactly those, no demo.
	c := mustParse(t, "users:\n  - {name: a, password: x}\n")
	if want := []User{{Name: "a", Password: "x", Policy: Policy{Home: "/"}}}; !reflect.DeepEqual(c.Users, want) {
		t.Errorf("Users = %v, want %v", c.Users, want)
	}
	// An explicit empty list on the embedded store means no users.
	for _, in := range []string{"users: []\n", "users:\n"} {
		if c := mustParse(t, in); len(c.Users) != 0 {
			t.Errorf("%q: Users = %v, want none", in, c.Users)
		}
	}
	// S3 store without users: an error, never the demo user.
	for _, in := range []string{"store: {s3: {bucket: b}}\n", "store: {s3: {bucket: b}}\nusers: []\n"} {
		_, err := Parse([]byte(in))
		errs := fieldErrors(t, err)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "users: at least one user is required") {
			t.Errorf("%q: errors =\n%s", in, joinErrs(errs))
		}
	}
	// S3 store with users.
	c = mustParse(t, "store: {s3: {bucket: b}}\nusers: [{name: a, password: x, home: /a//b/}]\n")
	if len(c.Users) != 1 || c.Users[0].Home != "/a/b" {
		t.Errorf("Users = %v, want a at /a/b", c.Users)
	}
	// Validate normalizes homes of a Config built in Go too.
	d := Default()
	d.Users = []User{{Name: "x", Password: "y"}, {Name: "z", Password: "w", Policy: Policy{Home: "/q/./r/"}}}
	if err := d.Validate(); err != nil || d.Users[0].Home != "/" || d.Users[1].Home != "/q/r" {
		t.Errorf("Validate = %v, homes %q %q", err, d.Users[0].Home, d.Users[1].Home)
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Users = []User{{Name: "a", Password: "hunter2"}, {Name: "b", PasswordHash: string(hash)}}
	c.Store.S3.SecretKey = "s3-secret-key"
	c.Store.Embedded.SecretKey = "embedded-secret-key"
	c.Cluster.Secret = "cluster-secret-xyz-0123"
	c.Cluster.Redis.Password = "redis-password"
	c.Auth.HTTP.Secret = "hook-secret-123"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		for _, secret := range []string{"hunter2", string(hash), "s3-secret-key", "embedded-secret-key", "cluster-secret-xyz-0123", "redis-password", "hook-secret-123"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s of Config shows %q: %s", verb, secret, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s of Config: no REDACTED marker: %s", verb, out)
		}
	}
}

func TestLogHandler(t *testing.T) {
	var b strings.Builder
	l := Log{Level: "warn", Format: "json"}
	h := l.Handler(&b)
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelWarn) {
		t.Error("handler level is not warn")
	}
	slog.New(h).Warn("hello")
	if !strings.HasPrefix(b.String(), "{") {
		t.Errorf("json handler wrote %q", b.String())
	}
	b.Reset()
	slog.New(Log{Level: "debug", Format: "text"}.Handler(&b)).Debug("hello")
	if !strings.Contains(b.String(), "level=DEBUG") {
		t.Errorf("text handler wrote %q", b.String())
	}
}

func TestUserPolicyKeys(t *testing.T) {
	c := mustParse(t, `users:
  - name: drop
    password: x
    permissions: [list, upload]
    allowed_cidrs: ["10.0.0.0/8", 192.0.2.7]
    max_file_size: 10MiB
    max_sessions: 3
    bandwidth: {down_per_session: 1MiB, up_per_user: 512KiB}
  - name: migrated
    password_hash: "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
limits:
  allowed_cidrs: ["10.0.0.0/8"]
`)
	if u := c.Users[0]; len(u.Permissions) != 2 || len(c.Limits.AllowedCIDRs) != 1 || u.MaxFileSize != 10*MiB ||
		u.MaxSessions != 3 || u.Bandwidth.DownPerSession != MiB || u.Bandwidth.UpPerUser != 512*KiB {
		t.Errorf("parsed %+v %+v", c.Users[0], c.Limits)
	}
	_, err := Parse([]byte("users:\n  - {name: a, password: x, permissions: [fly], allowed_cidrs: [nope]}\nlimits: {allowed_cidrs: [bad]}\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "users[0].permissions", "unknown permission fly")
	wantField(t, errs, "users[0].allowed_cidrs[0]", "nope")
	wantField(t, errs, "limits.allowed_cidrs[0]", "bad")
}

func TestAuthHook(t *testing.T) {
	c := mustParse(t, "store: {s3: {bucket: b}}\nauth:\n  http: {url: \"https://auth.example/ftp\", timeout: 2s, retries: 1, header: Authorization, secret: Bearer x, cache_ttl: 1m}\n")
	if c.Auth.HTTP.URL == "" || len(c.Users) != 0 {
		t.Errorf("auth %+v users %v (a hook needs no static users)", c.Auth.HTTP, c.Users)
	}
	_, err := Parse([]byte("auth:\n  http: {url: \"ftp://x\", retries: 9, header: X}\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "auth.http.url", "http")
	wantField(t, errs, "auth.http.retries", "0 to 5")
	wantField(t, errs, "auth.http.header", "together")
}

// store.s3.stall_timeout: a default that fails a store that stopped
// answering within a minute, a YAML duration, and no value that would cut
// a busy store's ordinary pauses.
func TestStallTimeout(t *testing.T) {
	if got := Default().Store.S3.StallTimeout; got != 60*time.Second {
		t.Errorf("default stall_timeout = %v, want 60s", got)
	}
	c := mustParse(t, "store:\n  s3:\n    stall_timeout: 2m\n")
	if c.Store.S3.StallTimeout != 2*time.Minute {
		t.Errorf("stall_timeout = %v, want 2m", c.Store.S3.StallTimeout)
	}
	for _, bad := range []string{"0s", "500ms", "-1s"} {
		_, err := Parse([]byte("store:\n  s3:\n    stall_timeout: " + bad + "\n"))
		wantField(t, fieldErrors(t, err), "store.s3.stall_timeout", "at least 1s")
	}
}

// The budget keys of issue #15: parsed, and out-of-range values named.
func TestBudgetKeys(t *testing.T) {
	c := mustParse(t, "timeouts:\n  min_rate: 4KiB\nstore:\n  s3:\n    buffer_wait: 5s\n    buffer_ip_share: 50\n"+
		"limits:\n  download_buffers: 64MiB\n  download_user_share: 40\n")
	if c.Timeouts.MinRate != 4*KiB || c.Store.S3.BufferWait != 5*time.Second || c.Store.S3.BufferIPShare != 50 ||
		c.Store.S3.BufferUserShare != 100 || c.Limits.DownloadBuffers != 64*MiB || c.Limits.DownloadUserShare != 40 {
		t.Fatalf("parsed %+v %+v %+v", c.Timeouts, c.Store.S3, c.Limits)
	}
	_, err := Parse([]byte("timeouts:\n  min_rate: -1\nstore:\n  s3:\n    buffer_wait: 1ms\n    buffer_session_share: 0\n" +
		"limits:\n  download_buffers: 1KiB\n  download_ip_share: 101\n"))
	errs := fieldErrors(t, err)
	wantField(t, errs, "timeouts.min_rate", "size")
	wantField(t, errs, "store.s3.buffer_wait", "1ms")
	wantField(t, errs, "store.s3.buffer_session_share", "percentage")
	wantField(t, errs, "limits.download_buffers", "1KiB")
	wantField(t, errs, "limits.download_ip_share", "101")
}

// limits.max_hash_bytes: 1 GiB by default, 0 is no limit, a size with a
// unit, and a bad value is named.
func TestMaxHashBytes(t *testing.T) {
	if c := mustParse(t, ""); c.Limits.MaxHashBytes != GiB {
		t.Errorf("default %v, want 1GiB", c.Limits.MaxHashBytes)
	}
	if c := mustParse(t, "limits: {max_hash_bytes: 0}\n"); c.Limits.MaxHashBytes != 0 {
		t.Errorf("0 parsed as %v", c.Limits.MaxHashBytes)
	}
	if c := mustParse(t, "limits: {max_hash_bytes: 64MiB}\n"); c.Limits.MaxHashBytes != 64*MiB {
		t.Errorf("64MiB parsed as %v", c.Limits.MaxHashBytes)
	}
	_, err := Parse([]byte("limits: {max_hash_bytes: lots}\n"))
	wantField(t, fieldErrors(t, err), "limits.max_hash_bytes", "lots")
	c := Default()
	c.Limits.MaxHashBytes = -1
	wantField(t, fieldErrors(t, c.Validate()), "limits.max_hash_bytes", "negative")
}
