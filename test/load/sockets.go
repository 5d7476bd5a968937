package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// fdKinds sorts a process's descriptors: listening sockets (the FTP and
// store listeners, passive ports, which stay open once used), connections
// to or from the store's port (HTTP keep-alive, idle up to 90 s),
// connections with FTP clients, and everything else (files, pipes, epoll).
type fdKinds struct {
	listeners, store, clients, other int
}

func (k fdKinds) String() string {
	return fmt.Sprintf("%d listening, %d store, %d client, %d other", k.listeners, k.store, k.clients, k.other)
}

// tcpSocket is a line of /proc/PID/net/tcp{,6}.
type tcpSocket struct {
	listen              bool
	localPort, peerPort int
}

// readFDKinds classifies pid's descriptors; storePort is the S3 endpoint's
// port (the embedded store listens in the same process).
func readFDKinds(pid, storePort int) (fdKinds, error) {
	var k fdKinds
	socks := map[string]tcpSocket{}
	for _, f := range []string{"tcp", "tcp6"} {
		if err := readTCP(fmt.Sprintf("/proc/%d/net/%s", pid, f), socks); err != nil {
			return k, err
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return k, err
	}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		inode, ok := strings.CutPrefix(link, "socket:[")
		s, known := socks[strings.TrimSuffix(inode, "]")]
		switch {
		case !ok || !known:
			k.other++
		case s.listen:
			k.listeners++
		case s.localPort == storePort || s.peerPort == storePort:
			k.store++
		default:
			k.clients++
		}
	}
	return k, nil
}

// readTCP adds the sockets of a /proc/net/tcp file, by inode.
func readTCP(path string, into map[string]tcpSocket) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		into[f[9]] = tcpSocket{listen: f[3] == "0A", localPort: hexPort(f[1]), peerPort: hexPort(f[2])}
	}
	return nil
}

// hexPort is the port of "ADDR:PORT" in /proc/net/tcp's hex notation.
func hexPort(s string) int {
	i := strings.LastIndexByte(s, ':')
	n, _ := strconv.ParseInt(s[i+1:], 16, 32)
	return int(n)
}
