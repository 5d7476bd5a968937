package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// hookServer is a real HTTP server playing an existing user database.
type hookServer struct {
	*httptest.Server
	calls  atomic.Int32
	failN  atomic.Int32 // answer 500 this many times first
	secret string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{secret: "s3cr3t-header"}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		if h.failN.Add(-1) >= 0 {
			http.Error(w, "db down", 500)
			return
		}
		if r.Header.Get("X-Hook-Secret") != h.secret {
			http.Error(w, "who are you", 403)
			return
		}
		var req struct{ User, Password, ClientIP string }
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		req.User, _ = m["user"].(string)
		req.Password, _ = m["password"].(string)
		req.ClientIP, _ = m["client_ip"].(string)
		switch {
		case req.User == "partner" && req.Password == "pw" && req.ClientIP == "10.0.0.5" && m["node"] == "n1":
			json.NewEncoder(w).Encode(testProfile{Home: "/partners/p1", Permissions: []string{"upload", "list"}})
		case req.User == "evil":
			json.NewEncoder(w).Encode(testProfile{Home: "/../etc"})
		default:
			http.Error(w, "no", 401)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// testProfile is a small profile format; the binary's is config.HookUser.
type testProfile struct {
	Home        string   `json:"home"`
	Permissions []string `json:"permissions"`
}

func decodeTestProfile(_ string, body []byte) (User, error) {
	var p testProfile
	if err := json.Unmarshal(body, &p); err != nil {
		return User{}, err
	}
	u := User{Home: p.Home}
	if p.Permissions != nil {
		allow, err := ftp.ParsePerms(p.Permissions)
		if err != nil {
			return User{}, err
		}
		u.Deny = ftp.PermAll &^ allow
	}
	return u, nil
}

func TestHook(t *testing.T) {
	hs := newHookServer(t)
	r := &recorder{}
	static, err := New([]User{{Name: "local", Password: "l"}}, r.fsFor)
	if err != nil {
		t.Fatal(err)
	}
	hook, err := NewHook(HookOptions{URL: hs.URL, Header: "X-Hook-Secret", Secret: hs.secret, Retries: 2,
		CacheTTL: time.Minute, Node: "n1", FSFor: r.fsFor, Profile: decodeTestProfile})
	if err != nil {
		t.Fatal(err)
	}
	a := Chain{Static: static, Hook: hook}
	ctx := context.Background()
	client := netip.MustParseAddr("10.0.0.5")

	acct, err := a.Login(ctx, ftp.LoginRequest{User: "partner", Password: "pw", Client: client})
	if err != nil || acct.Deny != ftp.PermAll&^(ftp.PermUpload|ftp.PermList) {
		t.Fatalf("hook login: %+v, %v", acct, err)
	}
	if home := r.sessions[len(r.sessions)-1].Home; home != "/partners/p1" {
		t.Errorf("home %q", home)
	}
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "partner", Password: "bad", Client: client}); !errors.Is(err, ftp.ErrBadLogin) {
		t.Errorf("401 from the hook: %v, want ErrBadLogin", err)
	}
	// Cached: the same login again does not ask.
	before := hs.calls.Load()
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "partner", Password: "pw", Client: client}); err != nil || hs.calls.Load() != before {
		t.Errorf("cached login: %v, %d new calls", err, hs.calls.Load()-before)
	}
	// Static users never reach the hook.
	before = hs.calls.Load()
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "local", Password: "l", Client: client}); err != nil || hs.calls.Load() != before {
		t.Errorf("static login: %v, %d hook calls", err, hs.calls.Load()-before)
	}
	// Errors are retried; a hook that stays down is an error (421), never a login.
	hook.cache = map[[32]byte]cached{}
	hs.failN.Store(2)
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "partner", Password: "pw", Client: client}); err != nil {
		t.Errorf("after two 500s (2 retries): %v", err)
	}
	hook.cache = map[[32]byte]cached{}
	hs.failN.Store(10)
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "partner", Password: "pw", Client: client}); err == nil || errors.Is(err, ftp.ErrBadLogin) {
		t.Errorf("hook down: %v, want an error that is not ErrBadLogin", err)
	}
	hs.failN.Store(0)
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "evil", Password: "x", Client: client}); err == nil || errors.Is(err, ftp.ErrBadLogin) {
		t.Errorf("a profile escaping the root: %v", err)
	}
	hs.Close()
	if _, err := a.Login(ctx, ftp.LoginRequest{User: "someone", Password: "x", Client: client}); err == nil || errors.Is(err, ftp.ErrBadLogin) {
		t.Errorf("hook unreachable: %v", err)
	}
}
