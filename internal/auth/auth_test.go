package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// fakeFS is an ftp.FS that only remembers the home it was made for; its
// methods are never called here.
type fakeFS struct {
	ftp.FS
	home string
}

// recorder is an fsFor that records every session it was asked for.
type recorder struct {
	mu       sync.Mutex
	homes    []string
	sessions []Session
}

func (r *recorder) fsFor(s Session) ftp.FS {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.homes = append(r.homes, s.Home)
	r.sessions = append(r.sessions, s)
	return &fakeFS{home: s.Home}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func login(u *Users, name, pw string) (*ftp.Account, error) {
	return u.Login(context.Background(), ftp.LoginRequest{User: name, Password: pw, Client: netip.MustParseAddr("127.0.0.1")})
}

func TestLogin(t *testing.T) {
	rec := &recorder{}
	u, err := New([]User{
		{Name: "alice", Password: "wonderland", Home: "/alice/"},
		{Name: "bob", PasswordHash: mustHash(t, "builder"), ReadOnly: true},
	}, rec.fsFor)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, user, pw string
		wantHome       string // "" = want ErrBadLogin
		wantRO         bool
	}{
		{"plain right", "alice", "wonderland", "/alice", false},
		{"plain wrong", "alice", "wonderlan", "", false},
		{"plain longer", "alice", "wonderland!", "", false},
		{"plain empty", "alice", "", "", false},
		{"bcrypt right", "bob", "builder", "/", true},
		{"bcrypt wrong", "bob", "wonderland", "", false},
		{"bcrypt empty", "bob", "", "", false},
		{"unknown user", "carol", "wonderland", "", false},
		{"unknown empty", "", "", "", false},
		{"name is case-sensitive", "Alice", "wonderland", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.homes = nil
			acct, err := login(u, tc.user, tc.pw)
			if tc.wantHome == "" {
				if !errors.Is(err, ftp.ErrBadLogin) || acct != nil {
					t.Fatalf("Login = %v, %v; want ErrBadLogin", acct, err)
				}
				if len(rec.homes) != 0 {
					t.Errorf("fsFor called for a failed login: %q", rec.homes)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if acct.Name != tc.user || acct.ReadOnly != tc.wantRO {
				t.Errorf("Account = %+v, want name %q read-only %v", acct, tc.user, tc.wantRO)
			}
			if f, ok := acct.FS.(*fakeFS); !ok || f.home != tc.wantHome {
				t.Errorf("Account.FS = %#v, want the FS made for %q", acct.FS, tc.wantHome)
			}
			if len(rec.homes) != 1 || rec.homes[0] != tc.wantHome {
				t.Errorf("fsFor homes = %q, want [%q]", rec.homes, tc.wantHome)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel() // DefaultCost bcrypt is slow under -race
	h1, err := HashPassword("", "s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost([]byte(h1)); err != nil || c != bcrypt.DefaultCost {
		t.Errorf("cost = %d, %v; want %d", c, err, bcrypt.DefaultCost)
	}
	if strings.Contains(h1, "s3cr3t") {
		t.Error("hash contains the password")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h1), []byte("s3cr3t")); err != nil {
		t.Errorf("hash does not match its password: %v", err)
	}

	long := strings.Repeat("p", 73)
	if _, err := HashPassword("", long); err == nil || strings.Contains(err.Error(), long) {
		t.Errorf("HashPassword(73 bytes) = %v, want an error without the password", err)
	}
}

func TestNewRejects(t *testing.T) {
	good := mustHash(t, "pw")
	for _, tc := range []struct {
		name  string
		users []User
		want  string
	}{
		{"empty name", []User{{Password: "secret-1"}}, "empty name"},
		{"duplicate", []User{{Name: "a", Password: "secret-1"}, {Name: "a", Password: "secret-2"}}, "duplicate"},
		{"both", []User{{Name: "a", Password: "secret-1", PasswordHash: good}}, "exactly one"},
		{"neither", []User{{Name: "a"}}, "exactly one"},
		{"bad hash", []User{{Name: "a", PasswordHash: "secret-1"}}, "not a bcrypt, argon2id"},
		{"relative home", []User{{Name: "a", Password: "secret-1", Home: "a/b"}}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(tc.users, (&recorder{}).fsFor)
			if err == nil || u != nil {
				t.Fatalf("New = %v, %v; want an error", u, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-") || strings.Contains(err.Error(), good) {
				t.Errorf("error shows a password or hash: %q", err)
			}
		})
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New with a nil fsFor succeeded")
	}
}

// TestDummyCost checks the timing defence's premise: an unknown user costs
// a bcrypt comparison as dear as the dearest configured hash.
func TestDummyCost(t *testing.T) {
	t.Parallel()
	h4 := mustHash(t, "a")
	h6, err := bcrypt.GenerateFromPassword([]byte("b"), bcrypt.MinCost+2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		users []User
		want  int
	}{
		{[]User{{Name: "a", PasswordHash: h4}, {Name: "b", PasswordHash: string(h6)}, {Name: "c", Password: "c"}}, bcrypt.MinCost + 2},
		{[]User{{Name: "c", Password: "c"}}, bcrypt.DefaultCost},
	} {
		u, err := New(tc.users, (&recorder{}).fsFor)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := bcrypt.Cost(u.dummy); err != nil || c != tc.want {
			t.Errorf("dummy cost = %d, %v; want %d", c, err, tc.want)
		}
	}
}

func TestLoginErrors(t *testing.T) {
	u, err := New([]User{{Name: "a", PasswordHash: mustHash(t, "pw")}}, func(Session) ftp.FS { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// No FS for a good login: an internal error (421), not a bad login.
	if _, err := login(u, "a", "pw"); err == nil || errors.Is(err, ftp.ErrBadLogin) || strings.Contains(err.Error(), "pw\"") {
		t.Errorf("Login with no FS = %v, want an internal error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.Login(ctx, ftp.LoginRequest{User: "a", Password: "pw"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Login with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestConcurrentLogins(t *testing.T) {
	rec := &recorder{}
	u, err := New([]User{
		{Name: "a", PasswordHash: mustHash(t, "pa")},
		{Name: "b", Password: "pb", Home: "/b"},
	}, rec.fsFor)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name, pw := "a", "pa"
			if i%2 == 1 {
				name, pw = "b", "pb"
			}
			if _, err := login(u, name, pw); err != nil {
				t.Errorf("login %s: %v", name, err)
			}
			if _, err := login(u, name, pw+"x"); !errors.Is(err, ftp.ErrBadLogin) {
				t.Errorf("wrong login %s: %v", name, err)
			}
		})
	}
	wg.Wait()
	if len(rec.homes) != 8 {
		t.Errorf("fsFor called %d times, want 8", len(rec.homes))
	}
}

// The FS factory gets the user's name, home, real client address and
// storage options (per-user object properties).
func TestSessionForFS(t *testing.T) {
	type opts struct{ class string }
	rec := &recorder{}
	u, err := New([]User{{Name: "a", Password: "pw", Home: "/h/", Storage: opts{"STANDARD_IA"}}}, rec.fsFor)
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.7")
	if _, err := u.Login(context.Background(), ftp.LoginRequest{User: "a", Password: "pw", Client: client}); err != nil {
		t.Fatal(err)
	}
	want := Session{User: "a", Home: "/h", Client: client, Storage: opts{"STANDARD_IA"}}
	if len(rec.sessions) != 1 || rec.sessions[0] != want {
		t.Fatalf("sessions = %+v, want [%+v]", rec.sessions, want)
	}
}

// Users migrate from other servers with their hashes (made by openssl
// passwd and the argon2 CLI; see internal/passhash), and per-user and
// global allowed CIDRs refuse other addresses before the password counts.
func TestMigratedHashesAndAllowedCIDRs(t *testing.T) {
	r := &recorder{}
	u, err := New([]User{
		{Name: "shadow", PasswordHash: "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"},
		{Name: "pure", PasswordHash: "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"},
		{Name: "argon", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$cFQZCD+zSb/9427/GV32Oo32vYCyES18RyM6V/Spq3Y"},
		{Name: "office", Password: "pw", AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
			Deny: ftp.PermDelete},
	}, r.fsFor)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	from := netip.MustParseAddr("10.1.2.3")
	for _, name := range []string{"shadow", "pure", "argon"} {
		if _, err := u.Login(ctx, ftp.LoginRequest{User: name, Password: "secret", Client: from}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := u.Login(ctx, ftp.LoginRequest{User: name, Password: "Secret", Client: from}); !errors.Is(err, ftp.ErrBadLogin) {
			t.Errorf("%s with a wrong password: %v", name, err)
		}
	}
	acct, err := u.Login(ctx, ftp.LoginRequest{User: "office", Password: "pw", Client: from})
	if err != nil || acct.Deny != ftp.PermDelete {
		t.Fatalf("office from inside: %+v, %v", acct, err)
	}
	outside := netip.MustParseAddr("192.0.2.7")
	if _, err := u.Login(ctx, ftp.LoginRequest{User: "office", Password: "pw", Client: outside}); !errors.Is(err, ftp.ErrAddressNotAllowed) {
		t.Errorf("office from outside: %v, want ErrAddressNotAllowed", err)
	}
	u.SetAllowedCIDRs([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if _, err := u.Login(ctx, ftp.LoginRequest{User: "shadow", Password: "secret", Client: outside}); !errors.Is(err, ftp.ErrAddressNotAllowed) {
		t.Errorf("global allowed_cidrs: %v", err)
	}
	if _, err := u.Login(ctx, ftp.LoginRequest{User: "shadow", Password: "secret", Client: from}); err != nil {
		t.Errorf("global allowed_cidrs, inside: %v", err)
	}
}
