package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// listing: LIST of a directory of opt.listObjects objects through s3ftpd
// vs ListObjectsV2 paging alone on the same prefix, and vs SFTPGo's LIST
// of as many objects under its own prefix when it runs (rclone answers
// LIST from its directory cache, so it is not timed here).
func (h *harness) listing(ctx context.Context, st *s3store, srv *ftpServer, peers []*ftpServer) {
	n := h.opt.listObjects
	const ftpDir = "/list"
	prefix := s3ftpdHome + "/list/"
	ttfbName, totalName := "list_first_byte_vs_300ms", "list_total_vs_listobjectsv2"
	ttfbTitle := fmt.Sprintf("LIST of %d objects: time to first byte", n)
	totalTitle := fmt.Sprintf("LIST of %d objects: total vs ListObjectsV2 paging", n)
	fail := func(err error) {
		h.rep.fail(ttfbName, ttfbTitle, "<1", true, err)
		h.rep.fail(totalName, totalTitle, "<=1.20", true, err)
	}
	if err := mkdirs(ctx, srv, ftpDir); err != nil {
		fail(err)
		return
	}
	h.logf("creating %d objects under %s", n, prefix)
	t0 := time.Now()
	how, err := h.createObjects(ctx, st, prefix, n)
	if err != nil {
		fail(fmt.Errorf("creating the objects: %w", err))
		return
	}
	h.logf("  %s in %v", how, time.Since(t0).Round(time.Millisecond))
	peer := h.listPeer(ctx, st, peers, ftpDir, n)
	var peerFirst, peerTotal []float64
	var peerErr error
	// Warm the store's caches once, and check the count.
	if r := sdkList(ctx, st, prefix); r.err != nil || r.count != n {
		fail(firstErr(r.err, fmt.Errorf("ListObjectsV2 found %d objects, want %d", r.count, n)))
		return
	}
	var sdkTotal, sdkFirst, ttfb, total []float64
	var lines int
	for round := range h.opt.rounds {
		if ctx.Err() != nil {
			break
		}
		h.logf("round %d/%d: ListObjectsV2 paging and LIST of %d objects", round+1, h.opt.rounds, n)
		r := sdkList(ctx, st, prefix)
		if r.err != nil {
			fail(r.err)
			return
		}
		sdkTotal = append(sdkTotal, r.total.Seconds())
		sdkFirst = append(sdkFirst, r.first.Seconds())
		l := ftpList(ctx, srv, ftpDir)
		if l.err != nil {
			fail(l.err)
			return
		}
		if l.lines < n {
			fail(fmt.Errorf("LIST returned %d lines, want at least %d", l.lines, n))
			return
		}
		lines = l.lines
		ttfb = append(ttfb, l.first.Seconds())
		total = append(total, l.total.Seconds())
		h.logf("  ListObjectsV2 first page %v, all %v; LIST first byte %v, all %v", r.first.Round(time.Millisecond),
			r.total.Round(time.Millisecond), l.first.Round(time.Millisecond), l.total.Round(time.Millisecond))
		if peer != nil && peerErr == nil {
			pl := ftpList(ctx, peer, ftpDir)
			if pl.err == nil && pl.lines < n {
				pl.err = fmt.Errorf("LIST returned %d lines, want at least %d", pl.lines, n)
			}
			if peerErr = pl.err; peerErr == nil {
				peerFirst = append(peerFirst, pl.first.Seconds())
				peerTotal = append(peerTotal, pl.total.Seconds())
				h.logf("  %s LIST first byte %v, all %v", mover{name: peer.name}.label(), pl.first.Round(time.Millisecond), pl.total.Round(time.Millisecond))
			} else {
				h.logf("  %s LIST failed: %v", mover{name: peer.name}.label(), peerErr)
			}
		}
	}
	if len(total) == 0 {
		fail(ctx.Err())
		return
	}
	ms := func(s float64) string { return fmt.Sprintf("%.0f ms", s*1000) }
	h.rep.add(figure{name: ttfbName, title: ttfbTitle, core: true, target: "<1", ratio: median(ttfb) / 0.3,
		ours: ms(median(ttfb)), ref: fmt.Sprintf("budget 300 ms (ListObjectsV2 first page alone: %s)", ms(median(sdkFirst)))})
	var paired []float64
	for i := range total {
		paired = append(paired, total[i]/sdkTotal[i])
	}
	h.rep.add(figure{name: totalName, title: totalTitle, core: true, target: "<=1.20", ratio: median(paired),
		ours: ms(median(total)), ref: "ListObjectsV2 paging " + ms(median(sdkTotal))})
	rows := [][]string{
		{"ListObjectsV2 paging (1000 keys/page, delimiter /)", ms(median(sdkFirst)) + " (first page)", ms(median(sdkTotal)), joinMs(sdkTotal)},
		{"s3ftpd LIST over PASV", ms(median(ttfb)), ms(median(total)), joinMs(total)},
	}
	peerText := ""
	if peer != nil {
		label := mover{name: peer.name}.label()
		peerText = fmt.Sprintf(" %s lists as many objects, created the same way under its own prefix (%s), right after s3ftpd in each round.",
			label, sftpgoPrefix+strings.TrimPrefix(ftpDir, "/")+"/")
		name, title := "list_total_vs_"+peer.name, fmt.Sprintf("LIST of %d objects: total time vs %s", n, label)
		if peerErr != nil || len(peerTotal) != len(total) {
			h.rep.fail(name, title, "<1", false, firstErr(peerErr, errors.New("fewer rounds than s3ftpd's")))
			rows = append(rows, []string{label + " LIST over PASV", "FAILED: " + oneLine(fmt.Sprint(peerErr)), "", ""})
		} else {
			var r []float64
			for i := range total {
				r = append(r, total[i]/peerTotal[i])
			}
			// Time ratio: below 1, s3ftpd is faster.
			h.rep.add(figure{name: name, title: title, target: "<1", ratio: median(r),
				ours: ms(median(total)), ref: label + " " + ms(median(peerTotal))})
			rows = append(rows, []string{label + " LIST over PASV", ms(median(peerFirst)), ms(median(peerTotal)), joinMs(peerTotal)})
		}
	}
	h.rep.section(fmt.Sprintf("Listing, %d objects", n),
		table([]string{"path", "first byte / page (median)", "total (median)", "total per round"}, rows)+
			fmt.Sprintf("\nObjects created %s. LIST returned %d lines. %d rounds.%s\n", how, lines, len(total), peerText))
}

func joinMs(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.0f", x*1000))
	}
	return strings.Join(s, ", ") + " ms"
}

type listResult struct {
	first, total time.Duration
	count        int
	lines        int
	err          error
}

// listPeer prepares the directory of n objects for the peer whose LIST is
// timed (SFTPGo, under its key prefix), or returns nil.
func (h *harness) listPeer(ctx context.Context, st *s3store, peers []*ftpServer, ftpDir string, n int) *ftpServer {
	for _, p := range peers {
		if p.name != "sftpgo" {
			continue
		}
		prefix := sftpgoPrefix + strings.TrimPrefix(ftpDir, "/") + "/"
		if err := mkdirs(ctx, p, ftpDir); err != nil {
			h.rep.fail("list_total_vs_sftpgo", "LIST total time vs SFTPGo", "<1", false, err)
			return nil
		}
		h.logf("creating %d objects under %s", n, prefix)
		t0 := time.Now()
		how, err := h.createObjects(ctx, st, prefix, n)
		if err != nil {
			h.rep.fail("list_total_vs_sftpgo", "LIST total time vs SFTPGo", "<1", false, fmt.Errorf("creating the objects: %w", err))
			return nil
		}
		h.logf("  %s in %v", how, time.Since(t0).Round(time.Millisecond))
		return p
	}
	return nil
}

// sdkList pages through prefix as s3ftpd's List does (delimiter "/",
// default page size).
func sdkList(ctx context.Context, st *s3store, prefix string) listResult {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	var r listResult
	t0 := time.Now()
	for page := 0; page < 10000; page++ {
		out, err := st.client.ListObjectsV2(ctx, in)
		if err != nil {
			r.err = fmt.Errorf("ListObjectsV2: %w", err)
			return r
		}
		if page == 0 {
			r.first = time.Since(t0)
		}
		for _, o := range out.Contents {
			if aws.ToString(o.Key) != prefix { // the directory marker
				r.count++
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	r.total = time.Since(t0)
	return r
}

// ftpList times LIST dir: the data connection is open before LIST is
// sent; first is the time to its first byte, total to its end.
func ftpList(ctx context.Context, srv *ftpServer, dir string) listResult {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var r listResult
	rc, err := rawLogin(ctx, srv.addr, nil, srv.user, srv.pass)
	if err != nil {
		r.err = fmt.Errorf("login: %w", err)
		return r
	}
	defer rc.close()
	stop := context.AfterFunc(ctx, func() { rc.c.Close() })
	defer stop()
	addr, err := rc.pasv()
	if err != nil {
		r.err = err
		return r
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	data, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		r.err = fmt.Errorf("data connection: %w", err)
		return r
	}
	defer data.Close()
	stopData := context.AfterFunc(ctx, func() { data.Close() })
	defer stopData()
	buf := make([]byte, 64<<10)
	t0 := time.Now()
	if _, err := rc.c.Write([]byte("LIST " + dir + "\r\n")); err != nil {
		r.err = err
		return r
	}
	first := true
	for {
		n, err := data.Read(buf)
		if n > 0 && first {
			r.first = time.Since(t0)
			first = false
		}
		r.lines += bytes.Count(buf[:n], []byte{'\n'})
		if err != nil {
			break
		}
	}
	r.total = time.Since(t0)
	if _, _, err := rc.r.ReadResponse(1); err != nil {
		r.err = fmt.Errorf("LIST: %w", err)
		return r
	}
	if _, _, err := rc.r.ReadResponse(2); err != nil {
		r.err = fmt.Errorf("LIST: %w", err)
	}
	return r
}

// createObjects makes n empty objects under prefix. When the store's
// posix directory is known, the objects are written as files carrying the
// extended attributes versitygw gave a PutObject'd template (seconds for
// 100 000); otherwise by parallel PutObject.
func (h *harness) createObjects(ctx context.Context, st *s3store, prefix string, n int) (string, error) {
	name := func(i int) string { return fmt.Sprintf("o-%06d", i) }
	if st.root != "" {
		err := h.createFiles(ctx, st, prefix, n, name)
		if err == nil {
			return "as files in versitygw's posix directory, with the xattrs of a PutObject'd template", nil
		}
		h.logf("  creating files directly failed (%v); using PutObject", err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 32)
	deadline := time.Now().Add(10 * time.Minute)
	for w := range errs {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := sdkPutSmall(ctx, st, prefix+name(i), nil); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := firstErr(errs...); err != nil {
		return "", err
	}
	if ctx.Err() != nil || int(next.Load()) <= n {
		return "", fmt.Errorf("PutObject of %d objects did not finish in time", n)
	}
	return "by 32 parallel PutObject requests", nil
}

func (h *harness) createFiles(ctx context.Context, st *s3store, prefix string, n int, name func(int) string) error {
	tmpl := prefix + "template-" + randomHex(4)
	if err := sdkPutSmall(ctx, st, tmpl, nil); err != nil {
		return err
	}
	tmplPath := filepath.Join(st.root, filepath.FromSlash(tmpl))
	attrs, err := readXattrs(tmplPath)
	st.deleteKey(ctx, tmpl)
	if err != nil {
		return err
	}
	if len(attrs) == 0 {
		return errors.New("the template object has no xattrs (sidecar metadata?)")
	}
	dir := filepath.Join(st.root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				p := filepath.Join(dir, name(i))
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					errs[w] = err
					return
				}
				for k, v := range attrs {
					if err := syscall.Setxattr(p, k, v, 0); err != nil {
						errs[w] = fmt.Errorf("setxattr %s: %w", k, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return firstErr(append(errs, ctx.Err())...)
}

// readXattrs returns the extended attributes of a file.
func readXattrs(path string) (map[string][]byte, error) {
	size, err := syscall.Listxattr(path, nil)
	if err != nil {
		return nil, fmt.Errorf("listxattr: %w", err)
	}
	buf := make([]byte, size)
	size, err = syscall.Listxattr(path, buf)
	if err != nil {
		return nil, fmt.Errorf("listxattr: %w", err)
	}
	out := map[string][]byte{}
	for _, k := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if k == "" {
			continue
		}
		vs, err := syscall.Getxattr(path, k, nil)
		if err != nil {
			return nil, fmt.Errorf("getxattr %s: %w", k, err)
		}
		v := make([]byte, vs)
		vs, err = syscall.Getxattr(path, k, v)
		if err != nil {
			return nil, fmt.Errorf("getxattr %s: %w", k, err)
		}
		out[k] = v[:vs]
	}
	return out, nil
}
