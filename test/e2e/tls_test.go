package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1/localhost as
// PEM files and returns their paths.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(clusterLBIP)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func startTLSNode(t *testing.T, control, data string) (*node, int, string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "s3ftpd-test-1")
	implicit := freePort(t)
	n := startNode(t, nodeOptions{extra: fmt.Sprintf(`tls:
  cert_file: %q
  key_file: %q
  implicit_listen: "127.0.0.1:%d"
  control: %s
  data: %s
`, cert, key, implicit, control, data)})
	return n, implicit, cert
}

func TestFTPSClients(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	py := requireTool(t, "python3")
	n, implicit, certFile := startTLSNode(t, "required", "required")
	dir := t.TempDir()
	src, data := randomFile(t, dir, "tls.bin", 2<<20+3)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	auth := []string{"-sS", "--user", "demo:demo", "--max-time", "60", "--cacert", certFile}

	// curl: explicit (--ssl-reqd) upload and download, and implicit (ftps://).
	mustRun(t, time.Minute, nil, curl, append(auth, "--ssl-reqd", "-T", src, base+"tls.bin")...)
	out := filepath.Join(dir, "back.bin")
	mustRun(t, time.Minute, nil, curl, append(auth, "--ssl-reqd", "-o", out, base+"tls.bin")...)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("curl FTPS download differs")
	}
	got := mustRun(t, time.Minute, nil, curl, append(auth, fmt.Sprintf("ftps://127.0.0.1:%d/tls.bin", implicit))...)
	if got != string(data) {
		t.Fatal("curl implicit FTPS download differs")
	}
	// Plaintext is refused when TLS is required.
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", base); err == nil || !strings.Contains(out, "530") {
		t.Fatalf("plaintext login with tls.control required: err=%v %q", err, out)
	}

	// lftp with ssl-force and protected data.
	lout := mustRun(t, time.Minute, nil, lftp, "-c", strings.Join([]string{
		"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit yes",
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:ca-file " + certFile,
		fmt.Sprintf("open -u demo,demo ftp://127.0.0.1:%d", n.Port),
		"get tls.bin -o " + filepath.Join(dir, "lftp.bin"), "put " + src + " -o lftp-up.bin", "cls -1"}, "; "))
	if got, _ := os.ReadFile(filepath.Join(dir, "lftp.bin")); !bytes.Equal(got, data) {
		t.Fatalf("lftp FTPS download differs\n%s", lout)
	}

	// python ftplib.FTP_TLS, reusing the control session on data
	// connections the way FTPS users do against vsftpd's require_ssl_reuse.
	script := `
import ftplib, ssl, sys, io
class ReuseTLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
ctx = ssl.create_default_context(cafile=sys.argv[2])
ftp = ReuseTLS(context=ctx)
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
ftp.login("demo", "demo")
ftp.prot_p()
data = bytes(range(256)) * 8192
ftp.storbinary("STOR py-tls.bin", io.BytesIO(data))
buf = io.BytesIO()
ftp.retrbinary("RETR py-tls.bin", buf.write)
assert buf.getvalue() == data
assert "py-tls.bin" in ftp.nlst()
ftp.quit()
print("ftplib tls ok")
`
	if out := mustRun(t, time.Minute, nil, py, "-c", script, fmt.Sprint(n.Port), certFile); !strings.Contains(out, "ftplib tls ok") {
		t.Fatalf("python FTP_TLS:\n%s", out)
	}
}

// TestFTPSCertificateReloadOnSIGHUP: new sessions get the new certificate,
// the open session goes on.
func TestFTPSCertificateReloadOnSIGHUP(t *testing.T) {
	curl := requireTool(t, "curl")
	n, _, certFile := startTLSNode(t, "optional", "optional")
	keyFile := filepath.Join(filepath.Dir(certFile), "key.pem")
	mustRun(t, time.Minute, nil, curl, "-sS", "--ssl-reqd", "--user", "demo:demo", "--cacert", certFile,
		fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port))
	c := goClient(t, n.Addr, "127.0.0.1") // a plaintext session that must survive
	defer c.Quit()

	newDir := t.TempDir()
	newCert, newKey := writeCert(t, newDir, "s3ftpd-test-2")
	b, _ := os.ReadFile(newCert)
	os.WriteFile(certFile, b, 0o600)
	b, _ = os.ReadFile(newKey)
	os.WriteFile(keyFile, b, 0o600)
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.out.String(), "TLS certificate reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := mustRun(t, time.Minute, nil, curl, "-sS", "-v", "--ssl-reqd", "--user", "demo:demo", "--cacert", newCert,
		fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port))
	if !strings.Contains(out, "s3ftpd-test-2") {
		t.Fatalf("new sessions do not get the reloaded certificate:\n%s", out)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("the open session did not survive the reload: %v", err)
	}
}
