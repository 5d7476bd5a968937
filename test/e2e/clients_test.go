package e2e

import (
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func randomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	n := startNode(t, nodeOptions{})
	dir := t.TempDir()
	base := "ftp://127.0.0.1:" + itoa(n.Port) + "/"
	auth := []string{"-sS", "--user", "demo:demo", "--max-time", "60"}
	src, data := randomFile(t, dir, "up.bin", 3<<20+17)

	mustRun(t, time.Minute, nil, curl, append(auth, "--ftp-create-dirs", "-T", src, base+"dir/sub/up.bin")...)
	out := filepath.Join(dir, "down.bin")
	mustRun(t, time.Minute, nil, curl, append(auth, "-o", out, base+"dir/sub/up.bin")...)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatalf("curl download differs: %d bytes, want %d", len(got), len(data))
	}
	// Active mode (PORT/EPRT, curl's -P) to a client on this host is
	// refused: the client's address is one of the server's own, so the
	// data connection would go to us (TestHAProxyClients has active mode
	// for a client the LB vouches for).
	if out, err := run(t, time.Minute, nil, curl, append(auth, "-P", "127.0.0.1", "-o", out, base+"dir/sub/up.bin")...); err == nil {
		t.Fatalf("curl active mode to the server's own address worked:\n%s", out)
	}
	if !n.logged("refused active address: it is one of this server's own") {
		t.Fatalf("no log line for the refused active address:\n%s", n.out.String())
	}
	// Resume a download (REST).
	partial := filepath.Join(dir, "partial.bin")
	os.WriteFile(partial, data[:1<<20], 0o600)
	mustRun(t, time.Minute, nil, curl, append(auth, "-C", "-", "-o", partial, base+"dir/sub/up.bin")...)
	if got, _ := os.ReadFile(partial); !bytes.Equal(got, data) {
		t.Fatal("curl resumed download differs")
	}
	// Overwrite with other content.
	src2, data2 := randomFile(t, dir, "up2.bin", 1000)
	mustRun(t, time.Minute, nil, curl, append(auth, "-T", src2, base+"dir/sub/up.bin")...)
	got := mustRun(t, time.Minute, nil, curl, append(auth, base+"dir/sub/up.bin")...)
	if got != string(data2) {
		t.Fatal("overwrite not visible")
	}
	// Listings: LIST and NLST (--list-only).
	list := mustRun(t, time.Minute, nil, curl, append(auth, base+"dir/sub/")...)
	if !strings.Contains(list, "up.bin") || !strings.HasPrefix(list, "-rw") {
		t.Fatalf("LIST:\n%s", list)
	}
	names := mustRun(t, time.Minute, nil, curl, append(auth, "--list-only", base+"dir/")...)
	if strings.TrimSpace(names) != "sub" {
		t.Fatalf("NLST = %q", names)
	}
	// Quote commands: rename and delete.
	mustRun(t, time.Minute, nil, curl, append(auth, "-Q", "RNFR dir/sub/up.bin", "-Q", "RNTO dir/moved.bin", base)...)
	mustRun(t, time.Minute, nil, curl, append(auth, "-Q", "DELE dir/moved.bin", base)...)
	if out, err := run(t, time.Minute, nil, curl, append(auth, base+"dir/moved.bin")...); err == nil {
		t.Fatalf("deleted file still downloads: %q", out)
	}
	// Wrong password: curl fails with 530 (exit 67).
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "demo:wrong", base); err == nil || !strings.Contains(out, "530") {
		t.Fatalf("wrong password: err=%v out=%q", err, out)
	}
	if strings.Contains(n.out.String(), "wrong") {
		t.Fatal("the server log contains the wrong password")
	}
}

func TestLftp(t *testing.T) {
	lftp := requireTool(t, "lftp")
	n := startNode(t, nodeOptions{})
	dir := t.TempDir()
	_, data := randomFile(t, dir, "file one.bin", 5<<20+1)
	script := strings.Join([]string{
		"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit yes",
		"open -u demo,demo ftp://127.0.0.1:" + itoa(n.Port),
		"mkdir -p a/b",
		"cd a/b",
		"lcd " + dir,
		"put 'file one.bin'",
		"mv 'file one.bin' renamed.bin",
		"get renamed.bin -o back.bin",
		"cls -1 /a/b",
		"cd /",
		"mirror a " + filepath.Join(dir, "mirror"),
		"rm a/b/renamed.bin",
		"rmdir a/b",
		"cls -1 /a",
	}, "; ")
	out := mustRun(t, 2*time.Minute, nil, lftp, "-c", script)
	if got, _ := os.ReadFile(filepath.Join(dir, "back.bin")); !bytes.Equal(got, data) {
		t.Fatalf("lftp get differs (%d bytes)\n%s", len(got), out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "mirror", "b", "renamed.bin")); !bytes.Equal(got, data) {
		t.Fatalf("lftp mirror differs (%d bytes)\n%s", len(got), out)
	}
	if !strings.Contains(out, "renamed.bin") {
		t.Fatalf("cls did not show renamed.bin:\n%s", out)
	}
	// Read-only user cannot write.
	out, err := run(t, time.Minute, nil, lftp, "-c", "set net:max-retries 1; set cmd:fail-exit yes; open -u ro,ro ftp://127.0.0.1:"+itoa(n.Port)+"; mkdir x")
	if err == nil || !strings.Contains(out, "550") {
		t.Fatalf("read-only mkdir: err=%v\n%s", err, out)
	}
}

const ftplibScript = `
import ftplib, io, sys, hashlib
port = int(sys.argv[1])
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=30)
try:
    ftp.login("demo", "bad")
    sys.exit("wrong password accepted")
except ftplib.error_perm as e:
    assert str(e).startswith("530"), e
ftp.login("demo", "demo")
assert ftp.pwd() == "/", ftp.pwd()
ftp.mkd("py")
ftp.cwd("py")
data = bytes(range(256)) * 4099
ftp.storbinary("STOR blob.bin", io.BytesIO(data))
assert ftp.size("blob.bin") == len(data)
buf = io.BytesIO()
ftp.retrbinary("RETR blob.bin", buf.write)
assert buf.getvalue() == data
buf = io.BytesIO()
ftp.retrbinary("RETR blob.bin", buf.write, rest=1000)
assert buf.getvalue() == data[1000:]
ftp.storlines("STOR lines.txt", io.BytesIO(b"one\ntwo\n"))
assert sorted(ftp.nlst()) == ["blob.bin", "lines.txt"], ftp.nlst()
assert ftp.nlst("*.txt") == ["lines.txt"], ftp.nlst("*.txt")  # mget *.txt
assert ftp.nlst("../py/*.bin") == ["../py/blob.bin"], ftp.nlst("../py/*.bin")
facts = dict(ftp.mlsd())
assert facts["blob.bin"]["type"] == "file" and int(facts["blob.bin"]["size"]) == len(data), facts
lines = []
ftp.retrlines("LIST", lines.append)
assert any(l.endswith(" blob.bin") for l in lines), lines
ftp.rename("blob.bin", "../moved.bin")
try:
    ftp.size("blob.bin")
    sys.exit("renamed file still there")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.cwd("..")
assert ftp.size("moved.bin") == len(data)
try:
    ftp.rmd("py")
    sys.exit("rmd of a non-empty directory succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.delete("py/lines.txt")
ftp.rmd("py")
ftp.quit()
print("ftplib ok")
`

func TestPythonFtplib(t *testing.T) {
	py := requireTool(t, "python3")
	n := startNode(t, nodeOptions{})
	out := mustRun(t, 2*time.Minute, nil, py, "-c", ftplibScript, itoa(n.Port))
	if !strings.Contains(out, "ftplib ok") {
		t.Fatalf("python ftplib:\n%s", out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// ftplib.abort() sends "ABOR\r\n" as TCP urgent data (RFC 959 §4.1.3:
// Telnet Synch); on Linux the urgent byte leaves the normal stream unless
// the server keeps it inline. ABOR must work that way during a download
// and an upload, and any command sent urgently must be answered.
const ftplibAbortScript = `
import ftplib, io, sys, socket
ftp = ftplib.FTP()
ftp.connect(sys.argv[2], int(sys.argv[1]), timeout=15)
ftp.login("demo", "demo")
ftp.voidcmd("TYPE I")
data = bytes(range(256)) * (64 << 10)
ftp.storbinary("STOR abort.bin", io.BytesIO(data))

conn = ftp.transfercmd("RETR abort.bin")
conn.recv(65536)
resp = ftp.abort()
assert resp[:3] in ("426", "226"), resp
if resp[:3] == "426":
    assert ftp.getresp()[:3] == "226"
conn.close()

conn = ftp.transfercmd("STOR partial.bin")
conn.sendall(b"y" * (1 << 20))
resp = ftp.abort()
assert resp[:3] in ("426", "226"), resp
if resp[:3] == "426":
    assert ftp.getresp()[:3] == "226"
conn.close()

ftp.sock.sendall(b"NOOP\r\n", socket.MSG_OOB)
assert ftp.getresp()[:3] == "200"
assert ftp.size("abort.bin") == len(data)
ftp.quit()
print("abort ok")
`

func TestPythonFtplibAbort(t *testing.T) {
	py := requireTool(t, "python3")
	n := startNode(t, nodeOptions{})
	out := mustRun(t, time.Minute, nil, py, "-c", ftplibAbortScript, itoa(n.Port), "127.0.0.1")
	if !strings.Contains(out, "abort ok") {
		t.Fatalf("python ftplib abort:\n%s", out)
	}
}

// Through HAProxy the urgent byte never arrives: HAProxy reads the stream
// without SO_OOBINLINE, so the client's urgent "\n" stays in HAProxy's
// socket and the server sees "ABOR\r" with no line end. The server takes a
// CR-ended ABOR with nothing after it as the whole line.
func TestPythonFtplibAbortThroughHAProxy(t *testing.T) {
	py := requireTool(t, "python3")
	l := startBehindHAProxy(t, "", "")
	host, port, _ := net.SplitHostPort(l.Ctrl)
	out := mustRun(t, time.Minute, nil, py, "-c", ftplibAbortScript, port, host)
	if !strings.Contains(out, "abort ok") {
		t.Fatalf("python ftplib abort through HAProxy:\n%s", out)
	}
}
