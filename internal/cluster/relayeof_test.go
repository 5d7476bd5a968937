package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// TestRelayedUploadNeedsClientEOF: an upload relayed through another node
// is committed only when that node saw the client end it. A relaying node
// that dies mid-upload closes its side with a FIN, like a client at the
// end of its file; the owner must answer 426 and store nothing (it stored
// the short file and answered 226 before), also when a forged end-of-file
// notice came first. A genuine relayed upload still ends with 226 and the
// whole file.
func TestRelayedUploadNeedsClientEOF(t *testing.T) {
	rdb := startRedis(t)
	first := ftptest.FreePortRange(t, 3)
	a := newTestNode(t, rdb, "a", "127.0.3.1", first)
	b := newTestNode(t, rdb, "b", "127.0.3.2", first)
	mem := ftptest.NewMemFS()
	users := ftptest.Users{Passwords: map[string]string{"u": "p"}, FS: func(string) ftp.FS { return mem }}
	srv := ftptest.StartServer(t, users, func(s *ftp.Server) { s.Passive = a.reg })

	ctl, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(ctl)
	cmd := func(line string, want int) string {
		t.Helper()
		if line != "" {
			fmt.Fprintf(ctl, "%s\r\n", line)
		}
		got, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(got, strconv.Itoa(want)) {
			t.Fatalf("%q: got %q, %v; want %d", line, got, err, want)
		}
		return got
	}
	cmd("", 220)
	cmd("USER u", 331)
	cmd("PASS p", 230)
	cmd("TYPE I", 200)
	epsv := regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
	port := func() int {
		m := epsv.FindStringSubmatch(cmd("EPSV", 229))
		p, _ := strconv.Atoi(m[1])
		return p
	}
	data := strings.Repeat("0123456789abcdef", 4096) // 64 KiB

	// A relay that dies: a genuine header, part of the file, then a FIN.
	p := port()
	client := netip.MustParseAddr("127.0.0.1")
	fmt.Fprintf(ctl, "STOR dead\r\n")
	var token string
	for range 100 { // the claim exists before the 229; the token with it
		if token = a.reg.token(endpoint{client, p}); token != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := relayHeader{time: time.Now(), port: p, client: netip.AddrPortFrom(client, 40000), token: token}
	copy(h.nonce[:], randomBytes(16))
	rc, err := net.Dial("tcp", a.relay)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.Write(h.marshal([]byte(testSecret)))
	var ack [1]byte
	if _, err := io.ReadFull(rc, ack[:]); err != nil || ack[0] != 0 {
		t.Fatalf("owner did not take the relayed connection: %v %d\n%s", err, ack[0], a.log)
	}
	rc.Write([]byte(data[:10000]))
	// A notice signed with another secret does not count.
	if nc, err := net.Dial("tcp", a.relay); err == nil {
		nc.Write(eofNotice{time: time.Now(), nonce: h.nonce}.marshal([]byte("some-other-secret-xxxxxxxx")))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		nc.Read(make([]byte, 1))
		nc.Close()
	}
	rc.(*net.TCPConn).CloseWrite()
	cmd("", 150)
	cmd("", 426)
	if _, err := mem.Stat(context.Background(), "/dead"); err == nil {
		t.Error("the short upload of a dead relay was stored")
	}
	if !strings.Contains(a.log.String(), "refused end-of-file notice") {
		t.Errorf("forged end-of-file notice not logged:\n%s", a.log)
	}

	// A genuine relay: the client's connection lands on b.
	p = port()
	fmt.Fprintf(ctl, "STOR live\r\n")
	dc, err := net.Dial("tcp", fmt.Sprintf("127.0.3.2:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	cmd("", 150)
	io.WriteString(dc, data)
	dc.Close()
	cmd("", 226)
	rd, err := mem.Open(context.Background(), "/live", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if string(got) != data {
		t.Errorf("relayed upload stored %d bytes, want %d\nb's log:\n%s", len(got), len(data), b.log)
	}
	cmd("QUIT", 221)
}
