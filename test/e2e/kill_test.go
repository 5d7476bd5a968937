package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"
)

// killRounds is how many kill -9 rounds TestKillNineMidOverwriteAndAppend
// runs: S3FTPD_KILL_ROUNDS, else 5 (2 with -short).
func killRounds(t *testing.T) int {
	if v := os.Getenv("S3FTPD_KILL_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("S3FTPD_KILL_ROUNDS=%q: want 1 to 100", v)
		}
		return n
	}
	if testing.Short() {
		return 2
	}
	return 5
}

// TestKillNineMidOverwriteAndAppend kills the server (kill -9) in the
// middle of an overwrite, an upload of a new name and an append, round
// after round on the same data directory. After each restart every name
// holds its old bytes or the complete new ones (SHA-256), a 226 the client
// got is never lost, and every interrupted upload is recovered as the
// README says: a new name's partial is continued with REST + STOR from
// SIZE; an interrupted overwrite refuses a resume at the old size (554) or
// has nothing pending, and a plain STOR works; an interrupted APPE is sent
// again (SIZE still reports the old object).
func TestKillNineMidOverwriteAndAppend(t *testing.T) {
	rounds := killRounds(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, uint64(rounds)))
	opts := nodeOptions{dataDir: dir, extra: "log:\n  level: debug\n"}
	n := startNode(t, opts)
	c := killClient(t, n)
	ow := randBytesSeeded(rng, 3<<20)
	app := randBytesSeeded(rng, 1<<20)
	storBytes(t, c, "ow.bin", ow)
	storBytes(t, c, "app.bin", app)
	c.Quit()

	var stats struct{ committed, resumed, restarted, refused554, nothingPending, appendedAgain int }
	for round := range rounds {
		newOW := randBytesSeeded(rng, 20<<20)
		newNN := randBytesSeeded(rng, 20<<20)
		tail := randBytesSeeded(rng, 12<<20)
		nn := fmt.Sprintf("new-%02d.bin", round)
		killAfter := time.Duration(300+rng.IntN(2500)) * time.Millisecond

		// Three uploads at about 8 MiB/s each; kill -9 at a random moment.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i, up := range []func(*client.ServerConn) error{
			func(c *client.ServerConn) error { return c.Stor("ow.bin", paced(newOW)) },
			func(c *client.ServerConn) error { return c.Stor(nn, paced(newNN)) },
			func(c *client.ServerConn) error { return c.Append("app.bin", paced(tail)) },
		} {
			uc := killClient(t, n)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = up(uc)
				uc.Quit()
			}()
		}
		time.Sleep(killAfter)
		n.stop(syscall.SIGKILL, 10*time.Second)
		wg.Wait()

		n = startNode(t, opts)
		waitSweep(t, n)
		c := killClient(t, n)
		what := fmt.Sprintf("round %d (kill after %v)", round, killAfter)

		// The overwrite: old or complete new; a 226 means new.
		got := retrBytes(t, c, "ow.bin")
		switch {
		case bytes.Equal(got, newOW):
			stats.committed++
			ow = newOW
		case errs[0] == nil:
			t.Fatalf("%s: ow.bin got 226 before the kill but holds %d other bytes", what, len(got))
		case !bytes.Equal(got, ow):
			t.Fatalf("%s: ow.bin holds %d bytes, neither the old %d nor the new %d", what, len(got), len(ow), len(newOW))
		default:
			if size, err := c.FileSize("ow.bin"); err != nil || size != int64(len(ow)) {
				t.Fatalf("%s: SIZE ow.bin = %d, %v; want the stored file's %d", what, size, err, len(ow))
			}
			// REST <stored size> + STOR of nothing: 554 while the
			// interrupted overwrite is pending, else an empty append.
			switch err := c.StorFrom("ow.bin", bytes.NewReader(nil), uint64(len(ow))); code(err) {
			case 554:
				stats.refused554++
			case 0:
				stats.nothingPending++
			default:
				t.Fatalf("%s: REST %d + STOR ow.bin: %v; want 554 or 226", what, len(ow), err)
			}
			storBytes(t, c, "ow.bin", newOW)
			ow = newOW
			if got := retrBytes(t, c, "ow.bin"); !bytes.Equal(got, ow) {
				t.Fatalf("%s: ow.bin after a plain STOR: %d bytes, want %d", what, len(got), len(ow))
			}
		}

		// The new name: absent or complete; interrupted → SIZE + REST.
		got = retrBytes(t, c, nn)
		switch {
		case bytes.Equal(got, newNN):
			stats.committed++
		case errs[1] == nil:
			t.Fatalf("%s: %s got 226 before the kill but holds %d bytes", what, nn, len(got))
		case got != nil:
			t.Fatalf("%s: %s holds %d bytes of an interrupted upload (torn)", what, nn, len(got))
		default:
			size, err := c.FileSize(nn)
			switch {
			case err == nil && size > 0 && size <= int64(len(newNN)):
				if err := c.StorFrom(nn, bytes.NewReader(newNN[size:]), uint64(size)); err != nil {
					t.Fatalf("%s: REST %d + STOR %s: %v", what, size, nn, err)
				}
				stats.resumed++
			case code(err) == 550:
				storBytes(t, c, nn, newNN) // nothing stored before the kill
				stats.restarted++
			default:
				t.Fatalf("%s: SIZE %s = %d, %v", what, nn, size, err)
			}
			if got := retrBytes(t, c, nn); !bytes.Equal(got, newNN) {
				t.Fatalf("%s: %s after the resume: %d bytes, not the %d sent", what, nn, len(got), len(newNN))
			}
		}

		// The append: old or old+tail; interrupted → SIZE + APPE again.
		full := append(bytes.Clone(app), tail...)
		got = retrBytes(t, c, "app.bin")
		switch {
		case bytes.Equal(got, full):
			stats.committed++
		case errs[2] == nil:
			t.Fatalf("%s: app.bin got 226 before the kill but holds %d bytes", what, len(got))
		case !bytes.Equal(got, app):
			t.Fatalf("%s: app.bin holds %d bytes, neither the old %d nor old+tail %d", what, len(got), len(app), len(full))
		default:
			size, err := c.FileSize("app.bin")
			if err != nil || size != int64(len(app)) {
				t.Fatalf("%s: SIZE app.bin = %d, %v; want %d", what, size, err, len(app))
			}
			if err := c.Append("app.bin", bytes.NewReader(full[size:])); err != nil {
				t.Fatalf("%s: APPE app.bin again: %v", what, err)
			}
			stats.appendedAgain++
			if got := retrBytes(t, c, "app.bin"); !bytes.Equal(got, full) {
				t.Fatalf("%s: app.bin after APPE again: %d bytes, want %d", what, len(got), len(full))
			}
		}
		app = full
		// The append target keeps growing; start it small again.
		if len(app) > 40<<20 {
			app = randBytesSeeded(rng, 1<<20)
			storBytes(t, c, "app.bin", app)
		}
		c.Quit()
	}
	t.Logf("%d kill -9 rounds × 3 uploads: %d committed before the kill; new names: %d resumed from a partial, %d sent again from 0; interrupted overwrites: %d refused a resume with 554, %d had nothing pending; interrupted appends sent again: %d",
		rounds, stats.committed, stats.resumed, stats.restarted, stats.refused554, stats.nothingPending, stats.appendedAgain)
}

// killClient logs in as demo.
func killClient(t *testing.T, n *node) *client.ServerConn {
	t.Helper()
	c, err := client.Dial(n.Addr, client.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitSweep waits for the janitor's first sweep after a start (it adopts
// the multipart uploads the killed process left).
func waitSweep(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(n.out.String(), "janitor: sweep done") {
		if time.Now().After(deadline) {
			t.Fatalf("no janitor sweep within a minute of the start:\n%s", n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func storBytes(t *testing.T, c *client.ServerConn, name string, b []byte) {
	t.Helper()
	if err := c.Stor(name, bytes.NewReader(b)); err != nil {
		t.Fatalf("STOR %s: %v", name, err)
	}
}

// retrBytes downloads name; nil when it does not exist (550).
func retrBytes(t *testing.T, c *client.ServerConn, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if code(err) == 550 {
		return nil
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func randBytesSeeded(rng *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// paced sends b at about 8 MiB/s.
func paced(b []byte) io.Reader { return &pacedReader{r: bytes.NewReader(b)} }

const pacedRate = 8 << 20 // bytes per second

type pacedReader struct {
	r     io.Reader
	start time.Time
	sent  int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if ahead := time.Duration(p.sent)*time.Second/pacedRate - time.Since(p.start); ahead > 0 {
		time.Sleep(ahead)
	}
	n, err := p.r.Read(b[:min(len(b), 256<<10)])
	p.sent += int64(n)
	return n, err
}
