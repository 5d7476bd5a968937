package ftp_test

import (
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// An upload-only drop box ([upload]: the most common FTP-to-S3 account)
// stores new files and nothing else; "no delete" keeps the rest.
func TestPermissions(t *testing.T) {
	mem := ftptest.NewMemFS()
	srv := ftptest.StartServer(t, ftptest.Users{
		Passwords: map[string]string{"drop": "d", "nodel": "n"},
		Deny:      map[string]ftp.Perm{"drop": ftp.PermAll &^ ftp.PermUpload, "nodel": ftp.PermDelete},
		FS:        func(string) ftp.FS { return mem },
	}, nil)
	r := dialRaw(t, srv.Addr, "")
	r.cmd(331, "USER drop")
	r.cmd(230, "PASS d")
	r.stor("in.csv", []byte("a,b\n"))
	r.cmd(250, "CWD /")
	r.cmd(257, "PWD")
	for _, c := range []string{"STOR in.csv", "APPE in.csv", "LIST", "NLST", "MLSD", "SIZE in.csv", "RETR in.csv",
		"DELE in.csv", "MKD d", "RNFR in.csv", "MFMT 20200101000000 in.csv", "XCRC in.csv"} {
		if c == "STOR in.csv" || c == "APPE in.csv" || c == "LIST" || c == "NLST" || c == "MLSD" || c == "RETR in.csv" {
			r.epsv()
		}
		r.cmd(550, "%s", c)
	}
	r.cmd(221, "QUIT")

	n := dialRaw(t, srv.Addr, "")
	n.cmd(331, "USER nodel")
	n.cmd(230, "PASS n")
	n.stor("in.csv", []byte("overwritten"))
	n.cmd(213, "SIZE in.csv")
	n.cmd(257, "MKD d")
	n.cmd(550, "DELE in.csv")
	n.cmd(550, "RMD d")
	n.cmd(350, "RNFR in.csv")
	n.cmd(250, "RNTO moved.csv")
}
