package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestPeerSFTPGoConfigLoopbackOnly checks the generated sftpgo.json: FTP on
// 127.0.0.1 only, every other SFTPGo service off (their defaults listen on
// all addresses: SFTP on 2022, HTTP on 8080), and a passive range that no
// other server of the run can get from passiveRange.
func TestPeerSFTPGoConfigLoopbackOnly(t *testing.T) {
	raw, err := json.Marshal(sftpgoConfig(2121, sftpgoPasvFirst, sftpgoPasvLast, "/tmp/x"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		FTPD struct {
			Bindings []struct {
				Port           int    `json:"port"`
				Address        string `json:"address"`
				ForcePassiveIP string `json:"force_passive_ip"`
			} `json:"bindings"`
			Range struct{ Start, End int } `json:"passive_port_range"`
		} `json:"ftpd"`
		SFTPD, HTTPD, WebDAVD struct {
			Bindings []struct {
				Port int `json:"port"`
			} `json:"bindings"`
		}
		Telemetry struct {
			Port int `json:"bind_port"`
		} `json:"telemetry"`
		DataProvider struct {
			Driver string `json:"driver"`
		} `json:"data_provider"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.FTPD.Bindings) != 1 || c.FTPD.Bindings[0].Address != "127.0.0.1" || c.FTPD.Bindings[0].Port != 2121 ||
		c.FTPD.Bindings[0].ForcePassiveIP != "127.0.0.1" {
		t.Errorf("ftpd bindings %+v, want one on 127.0.0.1:2121 advertising 127.0.0.1", c.FTPD.Bindings)
	}
	for name, b := range map[string][]struct {
		Port int `json:"port"`
	}{"sftpd": c.SFTPD.Bindings, "httpd": c.HTTPD.Bindings, "webdavd": c.WebDAVD.Bindings} {
		if len(b) != 1 || b[0].Port != 0 {
			t.Errorf("%s bindings %+v, want one with port 0 (off)", name, b)
		}
	}
	if c.Telemetry.Port != 0 {
		t.Errorf("telemetry port %d, want 0 (off)", c.Telemetry.Port)
	}
	if c.DataProvider.Driver != "memory" {
		t.Errorf("data provider %q, want memory", c.DataProvider.Driver)
	}
	if c.FTPD.Range.Start != sftpgoPasvFirst || c.FTPD.Range.End != sftpgoPasvLast ||
		sftpgoPasvRange != fmt.Sprintf("%d-%d", sftpgoPasvFirst, sftpgoPasvLast) {
		t.Errorf("passive range %+v, constants %d-%d %q", c.FTPD.Range, sftpgoPasvFirst, sftpgoPasvLast, sftpgoPasvRange)
	}
	// passiveRange draws first = 20000 + 100*[0,120) and n <= 100.
	if lastOther := 20000 + 119*100 + 99; sftpgoPasvFirst <= lastOther || sftpgoPasvLast >= 32768 {
		t.Errorf("SFTPGo's passive range %d-%d overlaps passiveRange's (up to %d) or the ephemeral ports (32768+)",
			sftpgoPasvFirst, sftpgoPasvLast, lastOther)
	}
}

// TestPeerSFTPGoBuildFailureReported: a build that cannot happen (here a
// source directory without go.mod) is an error, and the child names it in
// the Peers section and runs no SFTPGo.
func TestPeerSFTPGoBuildFailureReported(t *testing.T) {
	src := t.TempDir() // exists, no go.mod
	opt := options{netns: "child", install: true, cacheDir: t.TempDir(), sftpgoSrc: src}
	h := &harness{opt: opt, rep: newReport(opt), logf: t.Logf}
	_, err := h.sftpgoBinary(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Fatalf("sftpgoBinary with an empty source directory: %v, want an error naming the missing go.mod", err)
	}
	t.Setenv(sftpgoBuildErrEnv, "build failed: "+oneLine(err.Error()))
	if p := h.sftpgoPeer(context.Background(), nil); p != nil {
		t.Fatalf("sftpgoPeer started %+v without a binary", p)
	}
	var note string
	for _, pn := range h.rep.peerNotes {
		if pn[0] == "SFTPGo" {
			note = pn[1]
		}
	}
	if !strings.Contains(note, "build failed") || !strings.Contains(note, "no go.mod") || !strings.Contains(note, "go build") {
		t.Errorf("Peers note %q: want the build's failure and how to build by hand", note)
	}
}
