package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMLetsClientsFinish: SIGTERM 0.3 s after 8 clients start
// uploading. Four are curl uploads at a limited rate (in the middle of
// STOR at the signal); four are paced control connections that are between
// two commands at the signal (after USER, after PASS, after EPSV, and in
// the middle of the data). All 8 finish with 226, the paced ones get 421
// only afterwards, s3ftpd exits 0, and after a restart every file is there,
// byte for byte.
func TestSIGTERMLetsClientsFinish(t *testing.T) {
	curl := requireTool(t, "curl")
	dataDir := t.TempDir()
	n := startNode(t, nodeOptions{dataDir: dataDir})
	const clients = 8
	files := make([][]byte, clients)
	for i := range files {
		files[i] = make([]byte, 1<<20+i)
		rand.NewChaCha8([32]byte{byte(i), 'd'}).Read(files[i])
	}
	dir := t.TempDir()
	errs := make(chan error, clients)
	for i := range clients {
		name := fmt.Sprintf("drain-%d.bin", i)
		if i < 4 {
			src := filepath.Join(dir, name)
			if err := os.WriteFile(src, files[i], 0o600); err != nil {
				t.Fatal(err)
			}
			go func() {
				out, err := run(t, 60*time.Second, nil, curl, "-sS", "--limit-rate", "1M", "-T", src,
					"ftp://demo:demo@"+n.Addr+"/"+name)
				if err != nil {
					err = fmt.Errorf("curl %s: %v\n%s", name, err, out)
				}
				errs <- err
			}()
			continue
		}
		go func() { errs <- pacedUpload(n.Addr, name, files[i], i%4, 600*time.Millisecond) }()
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	select {
	case <-n.exited:
		if n.waitErr != nil {
			t.Fatalf("s3ftpd exited with %v after the drain", n.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("s3ftpd did not exit after the drain")
	}
	if t.Failed() {
		return
	}
	n2 := startNode(t, nodeOptions{dataDir: dataDir})
	c := goClient(t, n2.Addr, "127.0.0.1")
	defer c.Quit()
	for i := range clients {
		r, err := c.Retr(fmt.Sprintf("drain-%d.bin", i))
		if err != nil {
			t.Fatalf("drain-%d.bin after the drain: %v", i, err)
		}
		h := sha256.New()
		io.Copy(h, r)
		r.Close()
		if [32]byte(h.Sum(nil)) != sha256.Sum256(files[i]) {
			t.Fatalf("drain-%d.bin differs after the drain", i)
		}
	}
}

// pacedUpload logs in and uploads data to name, pausing for pause at one
// step (0 after USER, 1 after PASS, 2 after EPSV, 3 in the middle of the
// data); after the 226 it waits for the drain's 421.
func pacedUpload(addr, name string, data []byte, pauseAt int, pause time.Duration) (err error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(45 * time.Second))
	var buf []byte
	read := func(want string) (string, error) {
		for {
			if i := bytes.Index(buf, []byte("\r\n")); i >= 0 {
				line := string(buf[:i])
				buf = buf[i+2:]
				if len(line) < 4 || line[3] != ' ' {
					continue
				}
				if !strings.HasPrefix(line, want) {
					return line, fmt.Errorf("%s: want %s, got %q", name, want, line)
				}
				return line, nil
			}
			tmp := make([]byte, 1024)
			n, err := c.Read(tmp)
			if err != nil {
				return "", fmt.Errorf("%s: want %s: %w", name, want, err)
			}
			buf = append(buf, tmp[:n]...)
		}
	}
	step := func(line, want string, at int) (string, error) {
		if line != "" {
			if _, err := c.Write([]byte(line + "\r\n")); err != nil {
				return "", err
			}
		}
		got, err := read(want)
		if err == nil && at == pauseAt {
			time.Sleep(pause)
		}
		return got, err
	}
	if _, err := step("", "220", -1); err != nil {
		return err
	}
	if _, err := step("USER demo", "331", 0); err != nil {
		return err
	}
	if _, err := step("PASS demo", "230", 1); err != nil {
		return err
	}
	msg, err := step("EPSV", "229", 2)
	if err != nil {
		return err
	}
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]
	if _, err := c.Write([]byte("STOR " + name + "\r\n")); err != nil {
		return err
	}
	d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := read("150"); err != nil {
		return err
	}
	half := len(data) / 2
	if _, err := d.Write(data[:half]); err != nil {
		return err
	}
	if pauseAt == 3 {
		time.Sleep(pause)
	}
	if _, err := d.Write(data[half:]); err != nil {
		return err
	}
	d.Close()
	if _, err := read("226"); err != nil {
		return err
	}
	_, err = read("421")
	return err
}
