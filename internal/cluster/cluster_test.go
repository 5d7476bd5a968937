package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// redisServer is a real redis-server on a loopback port, stopped by PID
// when the test ends. Without redis-server the test is skipped, except
// under CI=true (.ci/run installs it).
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) redis.UniversalClient {
	_, rdb := startRedisServer(t)
	return rdb
}

func startRedisServer(t *testing.T) (*redisServer, redis.UniversalClient) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed (CI must install it)")
		}
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &redisServer{t: t, bin: bin, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	l.Close()
	rs.start()
	t.Cleanup(func() { rs.stop(syscall.SIGKILL) })
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", rs.port)},
		DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	for i := 0; ; i++ {
		if rdb.Ping(context.Background()).Err() == nil {
			return rs, rdb
		}
		if i > 200 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs redis-server, with an append-only file so that what it held
// survives a stop with SIGTERM and a start.
func (rs *redisServer) start() {
	rs.cmd = exec.Command(rs.bin, "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--dir", rs.dir)
	if err := rs.cmd.Start(); err != nil {
		rs.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rs.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	rs.t.Fatal("redis-server did not start")
}

func (rs *redisServer) stop(sig syscall.Signal) {
	if rs.cmd == nil {
		return
	}
	_ = syscall.Kill(rs.cmd.Process.Pid, sig)
	_ = rs.cmd.Wait()
	rs.cmd = nil
}

// syncBuf collects log output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type testNode struct {
	node  *Node
	reg   *Registry
	pool  *ftp.PortPool
	relay string
	log   *syncBuf
}

const testSecret = "unit-test-secret-0123456789"

// newTestNode is a node whose passive ports (first..first+2) are bound on
// ip, with its relay listener on ip too.
func newTestNode(t *testing.T, rdb redis.UniversalClient, id, ip string, first int) *testNode {
	t.Helper()
	rl, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(Options{NodeID: id, Advertise: rl.Addr().String(), Secret: []byte(testSecret), Redis: rdb,
		Prefix: "t:" + t.Name() + ":", ClaimTTL: 10 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pool := &ftp.PortPool{IP: netip.MustParseAddr(ip), First: first, Last: first + 2, Logger: log}
	reg := NewRegistry(n, pool)
	go reg.ServeRelay(rl)
	t.Cleanup(func() {
		rl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		reg.Shutdown(ctx)
		cancel()
		pool.Close()
	})
	return &testNode{node: n, reg: reg, pool: pool, relay: rl.Addr().String(), log: buf}
}

// TestRelayHandsConnectionToOwner: a data connection that reaches a node
// without the reservation is relayed to the owner's waiting Accept, with
// the real client address, and bytes flow both ways.
func TestRelayHandsConnectionToOwner(t *testing.T) {
	rdb := startRedis(t)
	first := ftptest.FreePortRange(t, 3)
	a := newTestNode(t, rdb, "a", "127.0.3.1", first)
	b := newTestNode(t, rdb, "b", "127.0.3.2", first)
	client := netip.MustParseAddr("127.0.3.50")
	pl, err := a.reg.Reserve(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()

	// b has never offered a port: it must listen on all of them anyway.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: client.AsSlice()}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.3.2:%d", pl.Port())) // lands on b
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := pl.Accept(ctx)
	if err != nil {
		t.Fatalf("owner never got the relayed connection: %v\nb's log:\n%s\na's log:\n%s", err, b.log, a.log)
	}
	defer got.Close()
	if ip := ftp.AddrIP(got.RemoteAddr()); ip != client {
		t.Errorf("relayed connection's remote address %v, want the client's %v", got.RemoteAddr(), client)
	}
	c.Write([]byte("to-owner"))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "to-owner" {
		t.Fatalf("owner read %q, %v", buf, err)
	}
	got.Write([]byte("to-client"))
	got.Close()
	back, _ := io.ReadAll(c)
	if string(back) != "to-client" {
		t.Fatalf("client read %q", back)
	}
	// The claim is gone once the connection was taken.
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := b.reg.lookup(context.Background(), endpoint{client, pl.Port()}); ok {
		t.Error("claim still in Redis after the data connection was taken")
	}
	// The same client cannot get a port on b while a's claim on it stands.
	pl2, err := a.reg.Reserve(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer pl2.Close()
	pl3, err := b.reg.Reserve(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer pl3.Close()
	if pl3.Port() == pl2.Port() {
		t.Fatalf("port %d claimed twice for one client", pl2.Port())
	}
}

// TestRelayRefusesForgeries: garbage, a header with another secret, a stale
// one, a replayed one and one with a wrong token are refused and logged; a
// stranger's connection to the passive port is refused by every node.
func TestRelayRefusesForgeries(t *testing.T) {
	rdb := startRedis(t)
	first := ftptest.FreePortRange(t, 3)
	a := newTestNode(t, rdb, "a", "127.0.3.1", first)
	client := netip.MustParseAddr("127.0.3.60")
	pl, err := a.reg.Reserve(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	token := a.reg.token(endpoint{client, pl.Port()})
	good := relayHeader{time: time.Now(), port: pl.Port(), client: netip.AddrPortFrom(client, 4242), token: token}
	copy(good.nonce[:], randomBytes(16))

	// send writes b to the relay port and reports whether the owner
	// accepted (answered 0) before closing.
	send := func(b []byte) bool {
		c, err := net.Dial("tcp", a.relay)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(b)
		var ack [1]byte
		_, err = io.ReadFull(c, ack[:])
		return err == nil && ack[0] == 0
	}
	stale := good
	stale.time = time.Now().Add(-2 * time.Minute)
	copy(stale.nonce[:], randomBytes(16))
	wrongTok := good
	wrongTok.token = randomHex(16)
	copy(wrongTok.nonce[:], randomBytes(16))
	cases := []struct {
		name, log string
		b         []byte
	}{
		{"garbage", "malformed relay header", []byte("GET / HTTP/1.1\r\n\r\n" + string(make([]byte, 64)))},
		{"other secret", "not signed with the cluster secret", good.marshal([]byte("some-other-secret-xxxxxxxx"))},
		{"stale", "outside the allowed skew", stale.marshal([]byte(testSecret))},
		{"wrong token", "no matching PASV pending on this node", wrongTok.marshal([]byte(testSecret))},
	}
	for _, tc := range cases {
		if send(tc.b) {
			t.Errorf("%s: accepted", tc.name)
		}
		if !bytes.Contains([]byte(a.log.String()), []byte(tc.log)) {
			t.Errorf("%s: no %q in the log:\n%s", tc.name, tc.log, a.log)
		}
	}
	// The genuine header is taken once; the same bytes again are a replay.
	gb := good.marshal([]byte(testSecret))
	if !send(gb) {
		t.Fatalf("genuine header refused:\n%s", a.log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := pl.Accept(ctx); err != nil {
		t.Fatalf("genuine relay not handed to the session: %v", err)
	} else {
		c.Close()
	}
	if send(gb) {
		t.Error("replayed header accepted")
	}
	if !bytes.Contains([]byte(a.log.String()), []byte("relay header replayed")) {
		t.Errorf("replay not logged:\n%s", a.log)
	}

	// A stranger (another IP) on the passive port: no claim anywhere.
	pl3, _ := a.reg.Reserve(context.Background(), client)
	defer pl3.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.3.66")}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.3.1:%d", pl3.Port()))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Error("stranger's data connection was served")
	}
	c.Close()
	if !bytes.Contains([]byte(a.log.String()), []byte("no PASV pending for that address on this port on any node")) {
		t.Errorf("stranger not logged:\n%s", a.log)
	}
}

// TestDegradedPortShares: while Redis is unreachable two nodes never
// offer the same port to one client IP (each offers its own share of the
// range), so no data connection can reach the wrong node's session.
func TestDegradedPortShares(t *testing.T) {
	rs, rdb := startRedisServer(t)
	first := ftptest.FreePortRange(t, 3)
	a := newTestNode(t, rdb, "a", "127.0.3.1", first)
	b := newTestNode(t, rdb, "b", "127.0.3.2", first)
	ctx := context.Background()
	for range 2 { // both see both
		a.node.tick(ctx)
		b.node.tick(ctx)
	}
	rs.stop(syscall.SIGKILL)
	a.node.tick(ctx) // fails: now down
	b.node.tick(ctx)
	if !a.node.RegistryDown() || !b.node.RegistryDown() {
		t.Fatal("nodes did not notice Redis is gone")
	}
	client := netip.MustParseAddr("127.0.3.70")
	ports := map[int]string{}
	for _, n := range []*testNode{a, b} {
		pl, err := n.reg.Reserve(ctx, client)
		if err != nil {
			// With 3 ports and 2 nodes one node has 1 port: fine.
			t.Fatalf("%s: %v", n.node.o.NodeID, err)
		}
		defer pl.Close()
		if other, dup := ports[pl.Port()]; dup {
			t.Fatalf("port %d offered to one client by %s and %s while Redis is down", pl.Port(), other, n.node.o.NodeID)
		}
		ports[pl.Port()] = n.node.o.NodeID
	}
}

// TestSessionEndsCountedAfterOutage: sessions that end while Redis is down
// are taken out of the shared count once it is back, so the IP is not
// locked out by sessions it no longer has.
func TestSessionEndsCountedAfterOutage(t *testing.T) {
	rs, rdb := startRedisServer(t)
	a := newTestNode(t, rdb, "a", "127.0.3.1", ftptest.FreePortRange(t, 3))
	counts := a.node.Counts(time.Minute)
	ctx := context.Background()
	ip := netip.MustParseAddr("127.0.3.80")
	for want := 1; want <= 2; want++ {
		if n, err := counts.AddSession(ctx, ip, 1); err != nil || n != want {
			t.Fatalf("AddSession = %d, %v; want %d", n, err, want)
		}
	}
	rs.stop(syscall.SIGTERM) // keeps its data (append-only file)
	if _, err := counts.AddSession(ctx, ip, -1); err == nil {
		t.Fatal("AddSession worked with Redis stopped")
	}
	if _, err := counts.AddSession(ctx, ip, -1); err == nil {
		t.Fatal("AddSession worked with Redis down")
	}
	rs.start()
	for i := 0; a.node.RegistryDown(); i++ {
		if i > 50 {
			t.Fatal("node did not find Redis back")
		}
		a.node.tick(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	a.node.tick(ctx)
	if n, err := counts.AddSession(ctx, ip, 1); err != nil || n != 1 {
		t.Fatalf("after the outage a new session makes %d (err %v), want 1: the ends were lost", n, err)
	}
}

// TestUserSessionsShared: a user's sessions on two nodes add up, in their
// own key space (a user named like an IP is not that IP).
func TestUserSessionsShared(t *testing.T) {
	_, rdb := startRedisServer(t)
	a := newTestNode(t, rdb, "a", "127.0.3.1", ftptest.FreePortRange(t, 3))
	b := newTestNode(t, rdb, "b", "127.0.3.2", ftptest.FreePortRange(t, 3))
	ctx := context.Background()
	ca, cb := a.node.Counts(time.Minute), b.node.Counts(time.Minute)
	a.node.tick(ctx) // each announces itself and learns the other
	b.node.tick(ctx)
	a.node.tick(ctx)
	for i, step := range []struct {
		c     *Counts
		delta int
		want  int
	}{{ca, 1, 1}, {cb, 1, 2}, {ca, -1, 1}} {
		if n, err := step.c.AddUserSession(ctx, "127.0.3.90", step.delta); err != nil || n != step.want {
			t.Fatalf("step %d: AddUserSession = %d, %v; want %d", i, n, err, step.want)
		}
	}
	if n, err := ca.AddSession(ctx, netip.MustParseAddr("127.0.3.90"), 1); err != nil || n != 1 {
		t.Fatalf("the IP's own count = %d, %v; want 1", n, err)
	}
}
