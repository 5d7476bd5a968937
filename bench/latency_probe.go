package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// probeStep is one command of the per-command probe.
type probeStep struct {
	label string // the table's row
	line  string // the command ("%s" is replaced by the probe directory)
	want  int    // reply class or code
	data  bool   // needs a data connection
	body  []byte // STOR payload
	// foreign is done straight in S3 (someone else) before the command:
	// "put" or "delete" of the key foreign/<name>.
	foreign, name string
}

// probeRow is a step's measurement on one server.
type probeRow struct {
	label      string
	requests   []s3Request
	background []s3Request
	err        error
}

// probeSteps is the session the table is measured with: one logged-in
// session, one command at a time, in this order. "own" names what the
// session itself just wrote; "foreign" an object put straight into S3 by
// the harness (someone else), which the session has never seen.
func probeSteps(dir string, body []byte) []probeStep {
	d := func(s string) string { return strings.ReplaceAll(s, "%s", dir) }
	return []probeStep{
		{label: "CWD (cold, a directory put into S3 by someone else)", line: d("CWD %s/foreign"), want: 250},
		{label: "PWD", line: "PWD", want: 257},
		{label: "SIZE (foreign file)", line: "SIZE f0", want: 213},
		{label: "MDTM (foreign file)", line: "MDTM f0", want: 213},
		{label: "MLSD (cold)", line: "MLSD", want: 2, data: true},
		{label: "SIZE (foreign file, just listed)", line: "SIZE f1", want: 213},
		{label: "SIZE (no such file)", line: "SIZE missing", want: 550},
		{label: "MFMT (foreign file)", line: "MFMT 20200101000000 f1", want: 213},
		{label: "MKD", line: d("MKD %s/own"), want: 257},
		{label: "CWD (the directory just made)", line: d("CWD %s/own"), want: 250},
		{label: "STOR 4 KiB", line: "STOR a.bin", want: 2, data: true, body: body},
		{label: "MFMT (the file just stored)", line: "MFMT 20200101000000 a.bin", want: 213},
		{label: "SIZE (the file just stored)", line: "SIZE a.bin", want: 213},
		{label: "MDTM (the file just stored)", line: "MDTM a.bin", want: 213},
		{label: "MLST (the file just stored)", line: "MLST a.bin", want: 250},
		{label: "LIST", line: "LIST", want: 2, data: true},
		{label: "NLST", line: "NLST", want: 2, data: true},
		{label: "RETR 4 KiB", line: "RETR a.bin", want: 2, data: true},
		{label: "RNFR", line: "RNFR a.bin", want: 350},
		{label: "RNTO", line: "RNTO b.bin", want: 250},
		{label: "DELE", line: "DELE b.bin", want: 250},
		{label: "CWD ..", line: "CWD ..", want: 250},
		{label: "RMD", line: d("RMD %s/own"), want: 250},
		// Freshness: changes made straight in S3 after the server listed
		// the directory (MLSD above) must show at once.
		{label: "CWD back into the listed directory", line: d("CWD %s/foreign"), want: 250},
		{label: "SIZE (put into S3 by someone else after the listing)", line: "SIZE late", want: 213, foreign: "put", name: "late"},
		{label: "SIZE (deleted from S3 by someone else after the listing)", line: "SIZE f0", want: 550, foreign: "delete", name: "f0"},
	}
}

// probe runs the steps on srv, waiting after each reply until the proxy is
// quiet so that what a command does after its reply is told apart.
func (h *harness) probe(ctx context.Context, st *s3store, srv *ftpServer, proxy *latencyProxy, round int) ([]probeRow, error) {
	dir := fmt.Sprintf("%slat-probe%d", srv.base, round)
	prefix := serverPrefix(srv) + strings.TrimPrefix(dir, "/") + "/foreign/"
	body := make([]byte, smallSize)
	h.pat.fill(body, 0)
	for i := range 2 {
		if err := sdkPutSmall(ctx, st, fmt.Sprintf("%sf%d", prefix, i), body); err != nil {
			return nil, err
		}
	}
	c, err := dialCmd(ctx, srv, proxy)
	if err != nil {
		return nil, err
	}
	defer c.close()
	quiet := 3*proxy.rtt + 30*time.Millisecond
	proxy.settle(ctx, quiet, 5*time.Second)
	var rows []probeRow
	for _, s := range probeSteps(dir, body) {
		switch s.foreign {
		case "put":
			if perr := sdkPutSmall(ctx, st, prefix+s.name, body); perr != nil {
				return nil, perr
			}
		case "delete":
			st.deleteKey(ctx, prefix+s.name)
		}
		proxy.settle(ctx, quiet, 5*time.Second)
		var r cmdResult
		if s.data {
			r, _, err = c.data(ctx, s.line, s.body)
		} else {
			r, err = c.do(s.line, s.want)
		}
		t1 := time.Now()
		proxy.settle(ctx, quiet, 5*time.Second)
		rows = append(rows, probeRow{label: s.label, requests: r.waited,
			background: proxy.between(t1, time.Now()), err: err})
	}
	return rows, nil
}

// serverPrefix is the key prefix under which srv's "/" lives.
func serverPrefix(srv *ftpServer) string {
	if srv.keyPrefix != "" {
		return srv.keyPrefix
	}
	return s3ftpdHome + "/"
}

// printProbe writes one line per step, for tools and the smoke test:
//
//	latency: s3ftpd "SIZE (foreign file)" requests=1 sequential=1 background=0
func printProbe(w io.Writer, server string, rows []probeRow) {
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(w, "latency: %s %q failed: %s\n", server, r.label, oneLine(r.err.Error()))
			continue
		}
		fmt.Fprintf(w, "latency: %s %q requests=%d sequential=%d background=%d\n",
			server, r.label, len(r.requests), sequentialRoundTrips(r.requests), len(r.background))
	}
}

// probeTable is the report's "S3 requests and sequential round trips per
// FTP command" table, one column group per server.
func probeTable(servers []string, rows map[string][]probeRow) string {
	head := []string{"FTP command"}
	for _, s := range servers {
		head = append(head, s+": S3 requests", s+": sequential round trips", s+": after the reply")
	}
	var out [][]string
	if len(servers) == 0 {
		return ""
	}
	for i, r := range rows[servers[0]] {
		row := []string{r.label}
		for _, s := range servers {
			if i >= len(rows[s]) {
				row = append(row, "", "", "")
				continue
			}
			x := rows[s][i]
			if x.err != nil {
				row = append(row, "FAILED: "+oneLine(x.err.Error()), "", "")
				continue
			}
			row = append(row, opCounts(x.requests), fmt.Sprint(sequentialRoundTrips(x.requests)), opCounts(x.background))
		}
		out = append(out, row)
	}
	return table(head, out)
}
