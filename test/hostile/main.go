// Command hostile drives one hostile scenario against a running s3ftpd
// (loopback only, every loop bounded) and prints what it measured; run.sh
// starts and stops the server around it. docs/security.md has the figures.
package main

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func dial(addr, from string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return d.Dial("tcp", addr)
}

type ctl struct {
	c    net.Conn
	r    *bufio.Reader
	wait time.Duration // for a reply; 0: 30 s
}

func (c *ctl) read() (int, string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(cmp.Or(c.wait, 30*time.Second)))
	var all string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return 0, all + l, err
		}
		all += l
		if len(l) >= 4 && l[3] == ' ' {
			n, _ := strconv.Atoi(l[:3])
			return n, all, nil
		}
	}
}

func (c *ctl) cmd(s string) (int, string, error) {
	if _, err := fmt.Fprintf(c.c, "%s\r\n", s); err != nil {
		return 0, "", err
	}
	return c.read()
}

func login(addr, from string, implicit bool, pass string) (time.Duration, int, error) {
	start := time.Now()
	c, err := dial(addr, from)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if implicit {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return time.Since(start), 0, err
		}
		c = tc
	}
	k := &ctl{c: c, r: bufio.NewReader(c)}
	if code, _, err := k.read(); err != nil || code != 220 {
		return time.Since(start), code, fmt.Errorf("greeting %d %v", code, err)
	}
	k.cmd("USER demo")
	code, _, err := k.cmd("PASS " + pass)
	d := time.Since(start)
	k.cmd("QUIT")
	return d, code, err
}

func fds(pid string) int {
	e, _ := os.ReadDir("/proc/" + pid + "/fd")
	return len(e)
}

func cpuTicks(pid string) int {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	f := strings.Fields(string(b)[strings.LastIndex(string(b), ")")+2:])
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

func main() {
	mode := flag.String("mode", "", "handshake | password | noop | pasvlog | upstall | downstall")
	addr := flag.String("addr", "", "control address (implicit FTPS address for handshake)")
	pid := flag.String("pid", "", "server PID (descriptors, CPU)")
	n := flag.Int("n", 1000, "attack connections")
	ips := flag.Int("ips", 1, "attacker source IPs 127.0.1.1..")
	dur := flag.Duration("dur", 20*time.Second, "attack duration")
	flag.Parse()
	switch *mode {
	case "handshake":
		handshake(*addr, *pid, *n, *ips)
	case "password":
		password(*addr, *pid, *n, *ips, *dur)
	case "noop":
		noop(*addr, *n, *dur)
	case "pasvlog":
		pasvlog(*addr, *n)
	case "upstall":
		upstall(*addr, *pid, *n, *ips, *dur)
	case "downstall":
		downstall(*addr, *pid, *n, *ips, *dur)
	}
}

// handshake: n silent connections from ips addresses to the implicit port;
// how many stay open, the descriptors, a real client's login time.
func handshake(addr, pid string, n, ips int) {
	base := fds(pid)
	var conns []net.Conn
	for i := range n {
		c, err := dial(addr, fmt.Sprintf("127.0.1.%d", 1+i%ips))
		if err != nil {
			fmt.Println("dial:", err)
			break
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	open := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	held := fds(pid)
	d, code, err := login(addr, "127.0.0.200", true, "demo")
	fmt.Printf("handshake: %d silent connections from %d IPs; still open after 3 s: %d; server descriptors %d -> %d; real client login %v (code %d, err %v)\n",
		len(conns), ips, open, base, held, d.Round(time.Millisecond), code, err)
	for _, c := range conns {
		c.Close()
	}
}

// password: n concurrent attacker sessions spread over ips addresses send
// wrong passwords for dur; a victim logs in once a second.
func password(addr, pid string, n, ips int, dur time.Duration) {
	stop := time.Now().Add(dur)
	var tries, r530, r421, errs atomic.Int64
	var wg sync.WaitGroup
	t0 := cpuTicks(pid)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("127.0.1.%d", 1+i%ips)
			for j := 0; j < 10000 && time.Now().Before(stop); j++ {
				c, err := dial(addr, from)
				if err != nil {
					errs.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				k := &ctl{c: c, r: bufio.NewReader(c)}
				if code, _, _ := k.read(); code != 220 {
					c.Close()
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for m := 0; m < 3 && time.Now().Before(stop); m++ {
					k.cmd("USER demo")
					code, _, err := k.cmd("PASS wrong")
					tries.Add(1)
					if code == 530 {
						r530.Add(1)
					} else {
						if code == 421 {
							r421.Add(1)
						}
						_ = err
						break
					}
				}
				c.Close()
			}
		}()
	}
	var lat []time.Duration
	fails := 0
	time.Sleep(2 * time.Second)
	for k := 0; k < 100 && time.Now().Before(stop.Add(-time.Second)); k++ {
		d, code, err := login(addr, "127.0.0.200", false, "demo")
		if code != 230 {
			fails++
			fmt.Printf("  victim: code %d err %v after %v\n", code, err, d)
		} else {
			lat = append(lat, d)
			fmt.Printf("  victim at %v: %v\n", time.Since(start).Round(100*time.Millisecond), d.Round(time.Millisecond))
		}
		time.Sleep(time.Second)
	}
	wg.Wait()
	el := time.Since(start)
	cpu := float64(cpuTicks(pid)-t0) / 100 / el.Seconds() * 100
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	med, mx := time.Duration(0), time.Duration(0)
	if len(lat) > 0 {
		med, mx = lat[len(lat)/2], lat[len(lat)-1]
	}
	fmt.Printf("password: %d attacker sessions from %d IPs for %v: %d PASS sent (%d answered 530, %d 421), %d dial errors; server CPU %.0f%%; victim logins ok %d (median %v, max %v), failed %d\n",
		n, ips, dur, tries.Load(), r530.Load(), r421.Load(), errs.Load(), cpu, len(lat), med.Round(time.Millisecond), mx.Round(time.Millisecond), fails)
}

// noop: n sessions that never log in and send NOOP every 5 s; after dur,
// how many are still open, and whether a victim gets in during and after.
func noop(addr string, n int, dur time.Duration) {
	var open atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(dur)
	for i := range n {
		c, err := dial(addr, fmt.Sprintf("127.0.1.%d", 1+i%50))
		if err != nil {
			fmt.Println("dial:", err)
			break
		}
		k := &ctl{c: c, r: bufio.NewReader(c)}
		if code, _, _ := k.read(); code != 220 {
			c.Close()
			continue
		}
		open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for j := 0; j < 1000 && time.Now().Before(stop); j++ {
				if code, _, err := k.cmd("NOOP"); err != nil || code != 200 {
					open.Add(-1)
					return
				}
				time.Sleep(5 * time.Second)
			}
		}()
	}
	_, during, err := login(addr, "127.0.0.200", false, "demo")
	fmt.Printf("noop: %d NOOP sessions open; victim during: %d %v\n", open.Load(), during, err)
	time.Sleep(time.Until(stop.Add(-3 * time.Second)))
	var after int
	_, after, err = login(addr, "127.0.0.200", false, "demo")
	fmt.Printf("noop: %v after connecting, %d NOOP sessions still open; victim: %d %v\n", dur-3*time.Second, open.Load(), after, err)
	wg.Wait()
}

// pasvlog: a client gets EPSV; another peer connects to that port n times.
func pasvlog(addr string, n int) {
	c, err := dial(addr, "127.0.0.1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	k := &ctl{c: c, r: bufio.NewReader(c)}
	k.read()
	k.cmd("USER demo")
	k.cmd("PASS demo")
	_, msg, _ := k.cmd("EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	port := msg[i+4 : j]
	host, _, _ := net.SplitHostPort(addr)
	start := time.Now()
	for range n {
		d, err := dial(net.JoinHostPort(host, port), "127.0.0.9")
		if err != nil {
			continue
		}
		_ = d.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, d)
		d.Close()
	}
	fmt.Printf("pasvlog: %d refused data connections in %v\n", n, time.Since(start).Round(time.Millisecond))
}
