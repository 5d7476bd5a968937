package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// The relay: a node that receives a passive data connection it holds no
// reservation for (the load balancer chose it, not the node that answered
// the PASV) looks the owner up in the registry, dials the owner's relay
// address and sends one header
//
//	"S3R1" | unix nanos (8) | nonce (16) | port (2) |
//	len | client ip:port | len | token | HMAC-SHA256 over all before (32)
//
// keyed with the cluster secret. The owner checks the MAC, that the time
// is within maxSkew of its clock, that the nonce is new, and that the token
// is its own for that (client IP, port); it answers one byte (0: taken)
// and hands the connection to the waiting session exactly as if the client
// had dialled it: the session's real-IP check, PROT P (TLS runs end to end;
// the relay only copies bytes), the TLS session-reuse check, ABOR and the
// stall timer all apply unchanged. After the header both nodes just copy
// bytes between two TCP connections (the kernel splices them).
//
// End of file: in stream mode the end of the data connection is the end
// of the file (RFC 959 §3.4.1), but the owner's end of a relayed
// connection also closes with a FIN when the relaying node dies (the
// kernel closes a killed process's sockets); taken as the end of an
// upload, that would store a short file and answer 226. So when the
// client really ends its side, the relaying node first sends the owner an
// end-of-file notice on a connection of its own,
//
//	"S3E1" | unix nanos (8) | nonce of the relayed connection (16) | HMAC-SHA256 (32)
//
// waits for its answer (0: noted), and only then passes the half close
// on; the owner commits a relayed upload only after the FIN of a
// connection whose notice it holds (relayedConn.ConfirmEOF). A relay that
// cannot deliver the notice resets the connection instead. This needs no
// Redis, so it holds during a Redis outage too.
const (
	relayMagic   = "S3R1"
	eofMagic     = "S3E1"
	maxSkew      = 30 * time.Second
	relayTimeout = 5 * time.Second // dial, header and answer
	maxHeader    = 4 + 8 + 16 + 2 + 1 + 255 + 1 + 255 + sha256.Size
)

// relayHeader is what the relaying node tells the owner.
type relayHeader struct {
	time   time.Time
	nonce  [16]byte
	port   int
	client netip.AddrPort
	token  string
}

func (h relayHeader) marshal(secret []byte) []byte {
	b := []byte(relayMagic)
	b = binary.BigEndian.AppendUint64(b, uint64(h.time.UnixNano()))
	b = append(b, h.nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(h.port))
	cs := h.client.String()
	b = append(b, byte(len(cs)))
	b = append(b, cs...)
	b = append(b, byte(len(h.token)))
	b = append(b, h.token...)
	m := hmac.New(sha256.New, secret)
	m.Write(b)
	return m.Sum(b)
}

var (
	errBadHeader = errors.New("malformed relay header")
	errBadMAC    = errors.New("relay header not signed with the cluster secret")
	errStale     = errors.New("relay header timestamp outside the allowed skew")
	errReplay    = errors.New("relay header replayed")
)

// readRelayHeader reads and authenticates one header.
func readRelayHeader(r io.Reader, secret []byte, now time.Time) (relayHeader, error) {
	var h relayHeader
	buf := make([]byte, 0, maxHeader)
	fixed := make([]byte, 4+8+16+2+1)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return h, fmt.Errorf("%w: %w", errBadHeader, err)
	}
	if string(fixed[:4]) != relayMagic {
		return h, errBadHeader
	}
	buf = append(buf, fixed...)
	cs := make([]byte, int(fixed[len(fixed)-1])+1) // client, then the token's length
	if _, err := io.ReadFull(r, cs); err != nil {
		return h, fmt.Errorf("%w: %w", errBadHeader, err)
	}
	buf = append(buf, cs...)
	rest := make([]byte, int(cs[len(cs)-1])+sha256.Size) // token, MAC
	if _, err := io.ReadFull(r, rest); err != nil {
		return h, fmt.Errorf("%w: %w", errBadHeader, err)
	}
	tok, mac := rest[:len(rest)-sha256.Size], rest[len(rest)-sha256.Size:]
	buf = append(buf, tok...)
	if !signedBy(secret, buf, mac) {
		return h, errBadMAC
	}
	h.time = time.Unix(0, int64(binary.BigEndian.Uint64(fixed[4:12])))
	copy(h.nonce[:], fixed[12:28])
	h.port = int(binary.BigEndian.Uint16(fixed[28:30]))
	ap, err := netip.ParseAddrPort(string(cs[:len(cs)-1]))
	if err != nil {
		return h, errBadHeader
	}
	h.client, h.token = ap, string(tok)
	if !inSkew(h.time, now) {
		return h, errStale
	}
	return h, nil
}

// signedBy reports whether mac is body's HMAC-SHA256 with secret.
func signedBy(secret, body, mac []byte) bool {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(m.Sum(nil), mac)
}

// inSkew reports whether a message stamped t is within maxSkew of now.
func inSkew(t, now time.Time) bool {
	d := now.Sub(t)
	return d <= maxSkew && d >= -maxSkew
}

// eofNotice says that the client ended the relayed connection nonce.
type eofNotice struct {
	time  time.Time
	nonce [16]byte
}

func (e eofNotice) marshal(secret []byte) []byte {
	b := []byte(eofMagic)
	b = binary.BigEndian.AppendUint64(b, uint64(e.time.UnixNano()))
	b = append(b, e.nonce[:]...)
	m := hmac.New(sha256.New, secret)
	m.Write(b)
	return m.Sum(b)
}

// readEOFNotice reads and authenticates a notice whose magic was read.
func readEOFNotice(r io.Reader, secret []byte, now time.Time) (eofNotice, error) {
	var e eofNotice
	b := make([]byte, 4+8+16+sha256.Size)
	copy(b, eofMagic)
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return e, fmt.Errorf("%w: %w", errBadHeader, err)
	}
	body, mac := b[:4+8+16], b[4+8+16:]
	if !signedBy(secret, body, mac) {
		return e, errBadMAC
	}
	e.time = time.Unix(0, int64(binary.BigEndian.Uint64(body[4:12])))
	copy(e.nonce[:], body[12:28])
	if !inSkew(e.time, now) {
		return e, errStale
	}
	return e, nil
}

// nonces remembers the nonces seen within the skew window (replays of a
// header older than that fail the time check).
type nonces struct {
	mu   sync.Mutex
	seen map[[16]byte]time.Time
}

// fresh records nonce; false if it was seen before.
func (ns *nonces) fresh(nonce [16]byte, now time.Time) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.seen == nil {
		ns.seen = map[[16]byte]time.Time{}
	}
	if _, dup := ns.seen[nonce]; dup {
		return false
	}
	if len(ns.seen) > 1024 {
		for k, t := range ns.seen {
			if now.Sub(t) > 2*maxSkew {
				delete(ns.seen, k)
			}
		}
	}
	ns.seen[nonce] = now
	return true
}

// ServeRelay accepts relayed data connections from the other nodes on ln
// until ln is closed.
func (r *Registry) ServeRelay(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			r.node.log.Warn("relay accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !r.track(c, true) {
			c.Close()
			continue
		}
		go func() {
			if !r.serveRelayConn(c) {
				r.track(c, false)
				c.Close()
			}
		}()
	}
}

// serveRelayConn serves one connection on the relay listener: a relayed
// data connection, or an end-of-file notice; false: c is done with
// (refused and logged, or a notice answered), the caller closes it.
func (r *Registry) serveRelayConn(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(relayTimeout))
	magic := make([]byte, 4)
	if _, err := io.ReadFull(c, magic); err != nil {
		return false
	}
	if string(magic) == eofMagic {
		r.takeEOFNotice(c)
		return false
	}
	return r.takeRelayed(c, io.MultiReader(bytes.NewReader(magic), c))
}

// takeEOFNotice notes an authentic end-of-file notice and answers 0, or
// 1 when no relayed connection of that nonce is open here.
func (r *Registry) takeEOFNotice(c net.Conn) {
	e, err := readEOFNotice(c, r.node.o.Secret, time.Now())
	if err != nil {
		r.refused.Warn(r.node.log.With("from", c.RemoteAddr().String()), ftp.AddrIP(c.RemoteAddr()).String()+" "+err.Error(),
			"refused end-of-file notice", "reason", err)
		r.pool.Refused("relay_not_authentic")
		return
	}
	r.rmu.Lock()
	rc := r.relayed[e.nonce]
	r.rmu.Unlock()
	answer := byte(1)
	if rc != nil {
		rc.eof.Store(true)
		answer = 0
	}
	_, _ = c.Write([]byte{answer})
}

// takeRelayed authenticates a relay header read from hr (c's bytes) and
// gives the connection to the waiting session; false: refused (logged),
// the caller closes c.
func (r *Registry) takeRelayed(c net.Conn, hr io.Reader) bool {
	log := r.node.log.With("from", c.RemoteAddr().String())
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	h, err := readRelayHeader(hr, r.node.o.Secret, time.Now())
	if err == nil && !r.nonces.fresh(h.nonce, time.Now()) {
		err = errReplay
	}
	if err != nil {
		r.refused.Warn(log, ftp.AddrIP(c.RemoteAddr()).String()+" "+err.Error(), "refused relay connection", "reason", err)
		r.pool.Refused("relay_not_authentic")
		return false
	}
	ep := endpoint{h.client.Addr().Unmap(), h.port}
	log = log.With("client", ep.client.String(), "port", ep.port)
	if tok := r.token(ep); tok == "" || !hmac.Equal([]byte(tok), []byte(h.token)) {
		r.refused.Warn(log, ep.client.String(), "refused relayed data connection: no matching PASV pending on this node")
		return false
	}
	rc := &relayedConn{TCPConn: tc, remote: net.TCPAddrFromAddrPort(h.client)}
	rc.onClose = func() {
		r.track(c, false)
		r.rmu.Lock()
		delete(r.relayed, h.nonce)
		r.rmu.Unlock()
	}
	r.rmu.Lock()
	if r.relayed == nil {
		r.relayed = map[[16]byte]*relayedConn{}
	}
	r.relayed[h.nonce] = rc // before the answer: the notice may follow at once
	r.rmu.Unlock()
	if _, err := c.Write([]byte{0}); err != nil {
		rc.Close()
		return true // closed
	}
	_ = c.SetDeadline(time.Time{})
	if !r.pool.Deliver(ep.port, ep.client, rc) {
		log.Info("relayed data connection arrived after its session stopped waiting")
		rc.Close()
		return true
	}
	log.Debug("relayed data connection taken")
	return true
}

// relayedConn is a data connection relayed by another node: its remote
// address is the real client's.
type relayedConn struct {
	*net.TCPConn
	remote  net.Addr
	once    sync.Once
	onClose func()
	eof     atomic.Bool // the relaying node said the client ended its side
}

func (c *relayedConn) RemoteAddr() net.Addr { return c.remote }

// errEOFUnconfirmed: the relayed connection ended, but the relaying node
// did not say that the client ended it.
var errEOFUnconfirmed = errors.New("the relaying node did not confirm the client's end of file (it may have died)")

// ConfirmEOF implements ftp.EOFConfirmer: nil only if the relaying node's
// notice came. The session asks once it read the end of the connection,
// and the relaying node half-closes only after its notice was taken.
func (c *relayedConn) ConfirmEOF() error {
	if !c.eof.Load() {
		return errEOFUnconfirmed
	}
	return nil
}

func (c *relayedConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.onClose)
	return err
}

// forward is the PortPool's Foreign hook: c reached this node but belongs
// to another node's PASV.
func (r *Registry) forward(port int, c net.Conn) {
	client := ftp.AddrIP(c.RemoteAddr())
	log := r.node.log.With("client", client.String(), "port", port)
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	cl, ok, err := r.lookup(ctx, endpoint{client, port})
	switch {
	case err != nil:
		log.Warn("refused data connection: the cluster registry is unreachable, cannot find its owner", "err", err)
		r.pool.Refused("registry_unreachable")
		c.Close()
		return
	case !ok:
		r.refused.Warn(log, client.String(), "refused data connection: no PASV pending for that address on this port on any node")
		r.pool.Refused("no_pasv")
		c.Close()
		return
	case cl.Instance == r.node.instance:
		// Ours, but its session stopped waiting meanwhile.
		log.Info("refused data connection: its session stopped waiting")
		c.Close()
		return
	}
	log = log.With("owner", cl.Instance)
	oc, nonce, err := r.dialOwner(ctx, cl, port, c.RemoteAddr())
	if err != nil {
		log.Warn("refused data connection: relay to its owner failed", "relay", cl.Relay, "err", err)
		r.pool.Refused("relay_failed")
		c.Close()
		return
	}
	if !r.track(c, true) {
		c.Close()
		oc.Close()
		return
	}
	defer r.track(c, false)
	log.Info("data connection relayed to the node that owns its PASV")
	n1, n2 := pipe(c, oc, func() error {
		err := r.sendEOF(cl.Relay, nonce)
		switch {
		case errors.Is(err, errOwnerGone): // it ended the transfer meanwhile
			log.Debug("end-of-file notice after the owner ended the transfer")
		case err != nil:
			log.Warn("relayed data connection reset: the owner did not take the end-of-file notice, so it will not commit the upload", "err", err)
		}
		return err
	})
	log.Debug("relay ended", "to_owner", n1, "to_client", n2)
}

// dialOwner connects to the owner's relay address and has it accept the
// header.
func (r *Registry) dialOwner(ctx context.Context, cl claim, port int, client net.Addr) (*net.TCPConn, [16]byte, error) {
	var nonce [16]byte
	ap, err := netip.ParseAddrPort(client.String())
	if err != nil {
		return nil, nonce, err
	}
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", cl.Relay)
	if err != nil {
		return nil, nonce, err
	}
	oc := conn.(*net.TCPConn)
	h := relayHeader{time: time.Now(), port: port, client: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), token: cl.Token}
	copy(h.nonce[:], randomBytes(16))
	_ = oc.SetDeadline(time.Now().Add(relayTimeout))
	var ack [1]byte
	if _, err = oc.Write(h.marshal(r.node.o.Secret)); err == nil {
		_, err = io.ReadFull(oc, ack[:])
	}
	if err == nil && ack[0] != 0 {
		err = fmt.Errorf("owner answered %d", ack[0])
	}
	if err != nil {
		oc.Close()
		if errors.Is(err, io.EOF) {
			err = errors.New("owner refused the relayed connection (see its log)")
		}
		return nil, nonce, err
	}
	_ = oc.SetDeadline(time.Time{})
	return oc, h.nonce, nil
}

// errOwnerGone: the owner no longer holds the relayed connection.
var errOwnerGone = errors.New("the owner no longer holds the relayed connection")

// sendEOF tells the owner at relay that the client ended the relayed
// connection nonce, and waits for its answer.
func (r *Registry) sendEOF(relay string, nonce [16]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", relay)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(relayTimeout))
	var ack [1]byte
	if _, err = c.Write(eofNotice{time: time.Now(), nonce: nonce}.marshal(r.node.o.Secret)); err == nil {
		_, err = io.ReadFull(c, ack[:])
	}
	if err == nil && ack[0] != 0 {
		err = errOwnerGone
	}
	return err
}

// pipe copies both ways until the owner's side ends, then closes both.
// The client's end of file is passed on as a half close (an upload ends
// with it; the owner then commits and closes), after notifyEOF told the
// owner; if that fails, the owner's connection is reset, which it takes
// for a lost connection. io.Copy between TCP connections uses splice(2).
func pipe(client net.Conn, owner *net.TCPConn, notifyEOF func() error) (toOwner, toClient int64) {
	up := make(chan struct{})
	var ownerEnded atomic.Bool // a download's end, or an upload the owner ended
	go func() {
		defer close(up)
		var err error
		toOwner, err = io.Copy(owner, client)
		if err == nil && !ownerEnded.Load() {
			err = notifyEOF()
		}
		if err == nil {
			_ = owner.CloseWrite()
		} else {
			_ = owner.SetLinger(0) // a reset, not a FIN
			owner.Close()
		}
	}()
	toClient, _ = io.Copy(client, owner)
	ownerEnded.Store(true)
	closeWrite(client)
	client.Close()
	owner.Close()
	<-up
	return toOwner, toClient
}

func closeWrite(c net.Conn) {
	type rawer interface{ Raw() net.Conn }
	if r, ok := c.(rawer); ok {
		c = r.Raw()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// track adds (or removes) a relay connection for Shutdown; false once
// shutting down.
func (r *Registry) track(c net.Conn, add bool) bool {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if !add {
		delete(r.relays, c)
		return true
	}
	if r.closing {
		return false
	}
	if r.relays == nil {
		r.relays = map[net.Conn]struct{}{}
	}
	r.relays[c] = struct{}{}
	return true
}

// Shutdown refuses new relays and waits until the ones in flight end or
// ctx is done, then closes what is left. Run it after the FTP server's
// own Shutdown: relays carry other nodes' transfers.
func (r *Registry) Shutdown(ctx context.Context) {
	r.rmu.Lock()
	r.closing = true
	r.rmu.Unlock()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		r.rmu.Lock()
		left := len(r.relays)
		if left == 0 || ctx.Err() != nil {
			for c := range r.relays {
				c.Close()
			}
			r.rmu.Unlock()
			return
		}
		r.rmu.Unlock()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
