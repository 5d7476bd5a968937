package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"
)

// TestSIGHUPReloadsConfig: SIGHUP reads the config file again. A user
// added logs in (Go client and curl), a user removed gets 530 while its
// open session goes on, the banner and the log level change, a key that
// needs a restart is logged as ignored, and a broken file keeps the running config with an
// ERROR line per problem.
func TestSIGHUPReloadsConfig(t *testing.T) {
	curl := requireTool(t, "curl")
	const demo = "users:\n  - name: demo\n    password: demo\n    home: /\n"
	n := startNode(t, nodeOptions{users: demo})
	// The control port is bound before the reload is wired; systemd, too,
	// reloads only after READY=1, which follows this line.
	if !n.logged("msg=\"serving FTP\"") {
		t.Fatalf("not serving:\n%s", n.out.String())
	}
	orig, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	hup := func(cfg, want string) { t.Helper(); sighup(t, n, cfg, want) }
	login := func(user, pass string) error {
		c, err := client.Dial(n.Addr, client.DialWithTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		return c.Login(user, pass)
	}
	if err := login("bob", "bob-pw-1"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("bob before he is configured: %v, want 530", err)
	}
	held, err := client.Dial(n.Addr, client.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Quit()
	if err := held.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}

	// Add bob, change the banner and the listen address (needs a restart).
	withBob := strings.Replace(string(orig), demo, demo+"  - name: bob\n    password: bob-pw-1\n    home: /\n", 1) +
		"banner: |\n  Example Corp FTP.\n  Authorised use only.\nlog:\n  level: debug\n"
	withBob = strings.Replace(withBob, "listen: \""+n.Addr+"\"", "listen: \"127.0.0.1:1\"", 1)
	hup(withBob, "SIGHUP: config reloaded")
	if !n.logged("users_added=[bob]") || !n.logged("ignored until the next start") || !n.logged("key=listen") {
		t.Errorf("the reload line does not name the added user and the ignored key:\n%s", n.out.String())
	}
	if strings.Contains(n.out.String(), "level=DEBUG") {
		t.Fatal("DEBUG lines before log.level was changed")
	}
	if err := login("bob", "bob-pw-1"); err != nil {
		t.Fatalf("bob after SIGHUP: %v", err)
	}
	if !n.logged("level=DEBUG msg=command") {
		t.Errorf("log.level debug did not take effect:\n%s", n.out.String())
	}
	out := mustRun(t, time.Minute, nil, curl, "-sS", "--user", "bob:bob-pw-1", "--list-only", "ftp://"+n.Addr+"/")
	_ = out // an empty store: curl exiting 0 is the login
	if got := greeting(t, n.Addr); got != "220-Example Corp FTP.|220 Authorised use only." {
		t.Errorf("greeting after SIGHUP: %q", got)
	}

	// Remove demo: new logins get 530, the open session goes on.
	noDemo := strings.Replace(withBob, "  - name: demo\n    password: demo\n    home: /\n", "", 1)
	hup(noDemo, "SIGHUP: config reloaded")
	if err := login("demo", "demo"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("demo after its removal: %v, want 530", err)
	}
	if _, err := held.List("/"); err != nil {
		t.Errorf("a session of the removed user was cut: %v", err)
	}

	// A broken file: every error at ERROR, the running config stays.
	broken := noDemo + "drain_timeout: 5\nno_such_key: 1\n"
	hup(broken, "keeping the running config")
	for _, want := range []string{"drain_timeout", "no_such_key"} {
		if !n.logged(want) {
			t.Errorf("no ERROR line names %s:\n%s", want, n.out.String())
		}
	}
	if c := strings.Count(n.out.String(), "level=ERROR msg=\"SIGHUP: config error; keeping the running config\""); c < 2 {
		t.Errorf("%d ERROR lines for 2 errors:\n%s", c, n.out.String())
	}
	if err := login("bob", "bob-pw-1"); err != nil {
		t.Fatalf("bob after a broken reload: %v", err)
	}
	if err := login("demo", "demo"); err == nil {
		t.Fatal("a broken reload brought demo back")
	}

	// A group and a member added by a reload: the member gets the
	// group's policy (download only: a STOR is refused).
	withGroup := noDemo + "groups:\n  - name: readers\n    permissions: [list, download]\n"
	withGroup = strings.Replace(withGroup, "  - name: bob\n", "  - name: carol\n    password: carol-pw\n    group: readers\n    home: /\n  - name: bob\n", 1)
	hup(withGroup, "users_added=[carol]")
	c, err := client.Dial(n.Addr, client.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("carol", "carol-pw"); err != nil {
		t.Fatalf("carol, added with a group by SIGHUP: %v", err)
	}
	if err := c.Stor("x.txt", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("STOR by a member of a download-only group added by SIGHUP: %v, want 550", err)
	}
	if _, err := c.List("/"); err != nil {
		t.Errorf("LIST by a member of a group with list: %v", err)
	}
	select {
	case <-n.exited:
		t.Fatalf("the process exited: %v", n.waitErr)
	default:
	}
}

// sighup writes cfg to n's config file, sends SIGHUP and waits (10s at
// most) for one more want in the log.
func sighup(t *testing.T, n *node, cfg, want string) {
	t.Helper()
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(n.out.String(), want)
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(n.out.String(), want) == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP: no %q in the log:\n%s", want, n.out.String())
		}
	}
}

// TestSIGHUPReloadHomeInANewBucket: a user that a reload adds with a home
// in a bucket no home named before, and a member of a group a reload adds
// with such a home, store their files there: the embedded store creates
// the home buckets of a reloaded config as it does those at the start.
func TestSIGHUPReloadHomeInANewBucket(t *testing.T) {
	curl := requireTool(t, "curl")
	const users = "users:\n  - {name: demo, password: demo}\n"
	n := startNode(t, nodeOptions{users: users})
	if !n.logged("msg=\"serving FTP\"") {
		t.Fatalf("not serving:\n%s", n.out.String())
	}
	orig, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(orig), users, users+"  - {name: dan, password: d-pw, home: \"s3://newbucket/d\"}\n"+
		"  - {name: carol, password: c-pw, group: drop}\n", 1) +
		"groups:\n  - name: drop\n    home: s3://dropbox/in/{user}\n    permissions: [upload, list]\n"
	sighup(t, n, next, "SIGHUP: config reloaded")
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	small, data := randomFile(t, t.TempDir(), "small.bin", 3000)
	store := filepath.Join(n.dir, "store", "buckets") // versitygw posix: a directory per bucket
	for _, c := range []struct{ login, file string }{
		{"dan:d-pw", filepath.Join(store, "newbucket", "d", "x.bin")},
		{"carol:c-pw", filepath.Join(store, "dropbox", "in", "carol", "x.bin")},
	} {
		if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", c.login, "-T", small, base+"x.bin"); err != nil {
			t.Errorf("%s: STOR after SIGHUP: %v %s", c.login, err, out)
			continue
		}
		if got, err := os.ReadFile(c.file); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: file not at %s: %v", c.login, c.file, err)
		}
	}
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "carol:c-pw", base+"x.bin"); err == nil {
		t.Errorf("download by a member of an upload+list group worked: %q", out)
	}
}

// greeting reads the 220 reply of a new connection, lines joined by |.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var lines []string
	for range 20 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("greeting: %v after %q", err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if strings.HasPrefix(l, "220 ") {
			break
		}
	}
	return strings.Join(lines, "|")
}
