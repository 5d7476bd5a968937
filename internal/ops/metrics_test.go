package ops

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// A real FTP session against a real server with the metrics as its
// observer: the counters and gauges say what happened.
func TestMetricsObserveASession(t *testing.T) {
	var srv *ftptest.Server
	m := NewMetrics(Sources{Sessions: func() []ftp.SessionInfo { return srv.Snapshot() }})
	mem := ftptest.NewMemFS()
	srv = ftptest.StartServer(t, ftptest.Users{Passwords: map[string]string{"u": "p"}, FS: func(string) ftp.FS { return mem }},
		func(s *ftp.Server) { s.Observer = m })
	c, err := client.Dial(srv.Addr, client.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("u", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 12345)
	if err := c.Stor("f", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r)
	r.Close()
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
	// A second session sends a made-up verb: counted as UNKNOWN.
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	br := bufio.NewReader(raw)
	br.ReadString('\n')
	raw.Write([]byte("XYZZY\r\n"))
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "502") {
		t.Fatalf("XYZZY: %q", line)
	}

	// A transfer is counted just after its 226 goes out: wait for the last.
	out := scrape(t, m)
	for i := 0; i < 200 && !strings.Contains(out, `s3ftpd_transfer_duration_seconds_count{direction="listing"} 1`); i++ {
		time.Sleep(10 * time.Millisecond)
		out = scrape(t, m)
	}
	for _, want := range []string{
		`s3ftpd_logins_total{result="failed"} 1`,
		`s3ftpd_logins_total{result="ok"} 1`,
		`s3ftpd_transfers_total{direction="upload",result="ok"} 1`,
		`s3ftpd_transfers_total{direction="download",result="ok"} 1`,
		`s3ftpd_transfer_bytes_total{direction="upload"} 12345`,
		`s3ftpd_transfer_bytes_total{direction="download"} 12345`,
		`s3ftpd_commands_total{class="2xx",verb="STOR"} 1`,
		`s3ftpd_commands_total{class="5xx",verb="UNKNOWN"} 1`,
		`s3ftpd_commands_total{class="5xx",verb="PASS"} 1`,
		`s3ftpd_sessions{tls="false"} 2`,
		`s3ftpd_sessions_total 2`,
		`s3ftpd_transfer_duration_seconds_count{direction="listing"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(out, "XYZZY") {
		t.Error("a made-up verb became a label")
	}
	c.Quit()
	if tot := m.Totals(); tot.BytesUp != 12345 || tot.BytesDown != 12345 || tot.LoginsFailed != 1 {
		t.Errorf("totals %+v", tot)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
