package ops

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Status is the /status page: a small server-rendered HTML page (no
// scripts; it reloads itself every few seconds) with the sessions, the
// transfers in flight with a progress bar and their rate, totals, and, in a
// cluster, every node. It shows user names, client addresses and paths:
// ops.listen belongs on an internal address.
type Status struct {
	Node     string // this node's name
	Version  string
	Started  time.Time
	Sessions func() []ftp.SessionInfo
	Totals   func() Totals // nil: not shown
	// Nodes lists the cluster's members; nil on a single node.
	Nodes func(ctx context.Context) ([]NodeRow, error)
}

// Totals since the process started.
type Totals struct {
	Sessions, LoginsOK, LoginsFailed, Transfers int64
	BytesUp, BytesDown                          int64
}

// NodeRow is one cluster member on the page.
type NodeRow struct {
	Node, State, Relay, Version string
	Sessions, PendingPASV       int
	Started, Seen               time.Time
}

type statusPage struct {
	Node, Version  string
	Now            time.Time
	Up             time.Duration
	Sessions       []ftp.SessionInfo
	Transfers      []transferRow
	Totals         *Totals
	Nodes          []NodeRow
	NodesErr       string
	ClusterEnabled bool
}

type transferRow struct {
	ID                uint64
	User, Client      string
	Verb, Path        string
	Bytes, Size       int64
	Percent           int
	Rate              string
	Elapsed           time.Duration
	Upload, KnownSize bool
}

// ServeHTTP renders the page.
func (st *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	p := statusPage{Node: st.Node, Version: st.Version, Now: now.UTC(), Up: now.Sub(st.Started).Round(time.Second)}
	if st.Sessions != nil {
		p.Sessions = st.Sessions()
	}
	for _, s := range p.Sessions {
		t := s.Transfer
		if t == nil {
			continue
		}
		el := now.Sub(t.Since)
		row := transferRow{ID: s.ID, User: s.User, Client: s.Client.String(), Verb: t.Verb, Path: t.Path, Bytes: t.Bytes,
			Size: t.Size, KnownSize: t.Size > 0, Elapsed: el.Round(100 * time.Millisecond),
			Upload: t.Upload, Rate: rate(t.Bytes, el)}
		if row.KnownSize {
			row.Percent = int(min(100, t.Bytes*100/t.Size))
		}
		p.Transfers = append(p.Transfers, row)
	}
	if st.Totals != nil {
		t := st.Totals()
		p.Totals = &t
	}
	if st.Nodes != nil {
		p.ClusterEnabled = true
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		nodes, err := st.Nodes(ctx)
		cancel()
		p.Nodes = nodes
		if err != nil {
			p.NodesErr = err.Error()
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = statusTmpl.Execute(w, p)
}

func rate(bytes int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return humanBytes(int64(float64(bytes)/d.Seconds())) + "/s"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return itoa(n) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return ftoa(float64(n)/float64(div)) + " " + string("KMGTPE"[exp]) + "iB"
}

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"ago":   func(now, t time.Time) string { return now.Sub(t).Round(time.Second).String() },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>s3ftpd {{.Node}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4} progress{width:12em} .num{text-align:right} .lost{color:#b00}
</style></head><body>
<h1>s3ftpd {{.Node}}</h1>
<p>version {{.Version}} · up {{.Up}} · {{.Now.Format "2006-01-02 15:04:05"}} UTC · this page reloads every 3 s</p>
{{with .Totals}}<h2>Totals</h2>
<table id="totals"><tr><th>sessions</th><th>logins ok</th><th>logins failed</th><th>transfers</th><th>uploaded</th><th>downloaded</th></tr>
<tr><td class="num">{{.Sessions}}</td><td class="num">{{.LoginsOK}}</td><td class="num">{{.LoginsFailed}}</td><td class="num">{{.Transfers}}</td><td class="num">{{bytes .BytesUp}}</td><td class="num">{{bytes .BytesDown}}</td></tr></table>{{end}}
<h2>Transfers in flight ({{len .Transfers}})</h2>
<table id="transfers"><tr><th>session</th><th>user</th><th>client</th><th>command</th><th>path</th><th>progress</th><th>bytes</th><th>rate</th><th>for</th></tr>
{{range .Transfers}}<tr class="transfer" data-session="{{.ID}}" data-path="{{.Path}}" data-bytes="{{.Bytes}}">
<td>{{.ID}}</td><td>{{.User}}</td><td>{{.Client}}</td><td>{{.Verb}}</td><td>{{.Path}}</td>
<td>{{if .KnownSize}}<progress max="{{.Size}}" value="{{.Bytes}}">{{.Percent}}%</progress> {{.Percent}}%{{else}}<progress></progress>{{end}}</td>
<td class="num">{{bytes .Bytes}}</td><td class="num">{{.Rate}}</td><td>{{.Elapsed}}</td></tr>
{{else}}<tr><td colspan="9">none</td></tr>{{end}}</table>
<h2>Sessions ({{len .Sessions}})</h2>
<table id="sessions"><tr><th>session</th><th>user</th><th>client</th><th>TLS</th><th>since</th><th>command</th></tr>
{{$now := .Now}}{{range .Sessions}}<tr class="session" data-session="{{.ID}}"><td>{{.ID}}</td><td>{{if .User}}{{.User}}{{else}}(not logged in){{end}}</td><td>{{.Client}}</td><td>{{if .TLS}}yes{{else}}no{{end}}</td><td>{{ago $now .Since}}</td><td>{{.Command}}{{with .Transfer}}{{.Verb}} {{.Path}}{{end}}</td></tr>
{{else}}<tr><td colspan="6">none</td></tr>{{end}}</table>
{{if .ClusterEnabled}}<h2>Cluster nodes</h2>
{{if .NodesErr}}<p class="lost">cluster registry unreachable: {{.NodesErr}}</p>{{end}}
<table id="nodes"><tr><th>node</th><th>state</th><th>relay</th><th>sessions</th><th>pending PASV</th><th>up since</th><th>last seen</th><th>version</th></tr>
{{range .Nodes}}<tr class="node"><td>{{.Node}}</td><td{{if ne .State "live"}} class="lost"{{end}}>{{.State}}</td><td>{{.Relay}}</td><td class="num">{{.Sessions}}</td><td class="num">{{.PendingPASV}}</td><td>{{.Started.UTC.Format "2006-01-02 15:04:05"}}</td><td>{{ago $now .Seen}} ago</td><td>{{.Version}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
