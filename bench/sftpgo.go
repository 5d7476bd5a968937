package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SFTPGo (github.com/drakkan/sftpgo) is a peer: its FTP server on an S3
// filesystem pointing at the run's store. It is not a Go main module that
// `go install` accepts (its go.mod has replace directives), so the harness
// builds it from a source tree of the release tag, outside this repository,
// when the cached binary is missing. None of its code is in this repository.
const (
	sftpgoVersion = "v2.7.5"
	sftpgoRepo    = "https://github.com/drakkan/sftpgo.git"
	// sftpgoTags leave out what the benchmark does not use: the SQL and
	// bolt data providers (the in-memory one stays), GCS and Azure,
	// portable mode: SFTPGo's own CI minimal build
	// (.github/workflows/development.yml) without nos3 and unixcrypt, and
	// without nometrics, with which v2.7.5's S3 filesystem does not compile.
	// bundle embeds the templates, static files and OpenAPI spec (copied
	// into internal/bundle first, sftpgoBundleCopy): SFTPGo loads its email
	// templates at start even with HTTP off, and exits without them.
	sftpgoTags = "nopgxregisterdefaulttypes,disable_grpc_modules,nogcs,noazblob,nomysql,nopgsql,nosqlite,nobolt,noportable,bundle"
	// sftpgoBuildErrEnv carries a failed build's reason from the parent
	// to the child in the network namespace, for the report.
	sftpgoBuildErrEnv = "S3FTPD_BENCH_SFTPGO_BUILD"
)

// sftpgoPrefix is the key prefix of SFTPGo's user: its root directory.
const sftpgoPrefix = "sftpgo/"

// sftpgoPasvFirst..Last is SFTPGo's passive range: fixed, just above the
// ranges passiveRange hands out (20000-31999) and below the ephemeral
// ports (32768+), so it clashes with no other server of the run.
// The latency mode's second SFTPGo (behind the delaying proxy) takes the
// next hundred.
const (
	sftpgoPasvFirst, sftpgoPasvLast = 32000, 32099
	sftpgoPasvRange                 = "32000-32099"
	sftpgoLatencyPasvFirst          = 32100
)

// sftpgoBundleCopy is the step before the build that puts the resources
// where the bundle tag embeds them from (as SFTPGo's CI does).
const sftpgoBundleCopy = "cp -r openapi static templates internal/bundle/"

// sftpgoBuildCmd is the build command, also shown in the report and in
// docs/benchmarks.md for a build by hand.
func sftpgoBuildCmd(out string) []string {
	return []string{"go", "build", "-trimpath", "-tags", sftpgoTags, "-ldflags", "-s -w", "-o", out, "."}
}

// sftpgoHowTo is how to build it by hand, for messages.
func (h *harness) sftpgoHowTo() string {
	return fmt.Sprintf("git clone --depth 1 --branch %s %s %s && cd %s && %s && CGO_ENABLED=0 %s",
		sftpgoVersion, sftpgoRepo, h.opt.sftpgoSrc, h.opt.sftpgoSrc, sftpgoBundleCopy,
		strings.Join(quoteArgs(sftpgoBuildCmd(filepath.Join(h.opt.cacheDir, "sftpgo"))), " "))
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ,") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// sftpgoBinary returns the cached SFTPGo binary, building it first when
// it is missing and -install allows (the parent, which has the network).
func (h *harness) sftpgoBinary(ctx context.Context) (string, error) {
	bin := filepath.Join(h.opt.cacheDir, "sftpgo")
	if exists(bin) {
		return bin, nil
	}
	if !h.opt.install {
		return "", fmt.Errorf("not in %s and -install=no (run without -short, or build it by hand: %s)", h.opt.cacheDir, h.sftpgoHowTo())
	}
	if err := h.buildSFTPGo(ctx, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// buildSFTPGo builds SFTPGo into bin from opt.sftpgoSrc, cloning the tag
// there first when the directory does not exist.
func (h *harness) buildSFTPGo(ctx context.Context, bin string) error {
	src := h.opt.sftpgoSrc
	if !exists(filepath.Join(src, "go.mod")) {
		if exists(src) {
			return fmt.Errorf("%s exists but holds no go.mod: put SFTPGo %s's source there or remove it", src, sftpgoVersion)
		}
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			return err
		}
		// Clone beside src, then rename: a failed clone leaves no src.
		tmp := src + ".clone"
		_ = os.RemoveAll(tmp)
		h.logf("git clone %s %s into %s", sftpgoRepo, sftpgoVersion, src)
		out, err := runCmd(ctx, 10*time.Minute, nil, "", "git", "clone", "--quiet", "--depth", "1", "--branch", sftpgoVersion, sftpgoRepo, tmp)
		if err != nil {
			_ = os.RemoveAll(tmp)
			return fmt.Errorf("git clone %s %s: %v: %s", sftpgoRepo, sftpgoVersion, err, firstLineOf(lastLines(out, 1)))
		}
		if err := os.Rename(tmp, src); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(h.opt.cacheDir, 0o755); err != nil {
		return err
	}
	h.logf("building SFTPGo %s in %s (minutes; cached in %s afterwards)", sftpgoVersion, src, h.opt.cacheDir)
	cp := strings.Fields(sftpgoBundleCopy)
	if out, err := runCmd(ctx, time.Minute, nil, src, cp[0], cp[1:]...); err != nil {
		return fmt.Errorf("%s in %s: %v: %s", sftpgoBundleCopy, src, err, oneLine(out))
	}
	// Into a temporary name: an interrupted build leaves no binary.
	tmp := bin + ".tmp"
	cmd := sftpgoBuildCmd(tmp)
	// CGO off: no C toolchain needed (SQLite is off anyway); GOWORK off:
	// the source tree is its own module, whatever surrounds it.
	env := []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false"}
	out, err := runCmd(ctx, 30*time.Minute, env, src, cmd[0], cmd[1:]...)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("go build of SFTPGo in %s: %v: %s", src, err, oneLine(lastLines(out, 3)))
	}
	return os.Rename(tmp, bin)
}

// sftpgoPeer starts SFTPGo when it can run, and says in the report why
// not otherwise; nil when it does not run.
func (h *harness) sftpgoPeer(ctx context.Context, st *s3store) *ftpServer {
	bin := filepath.Join(h.opt.cacheDir, "sftpgo")
	switch {
	case !h.opt.isolated():
		// Its FTP library (fclairamb/ftpserverlib) listens for passive
		// connections on 0.0.0.0, with no option to bind one address.
		h.rep.peerNote("SFTPGo", "not run: it binds its passive ports on all addresses; it runs only in the "+
			"loopback-only network namespace, which needs root (-netns)")
		return nil
	case !exists(bin):
		why := os.Getenv(sftpgoBuildErrEnv)
		if why == "" {
			why = fmt.Sprintf("not in %s (built by a run without -short)", h.opt.cacheDir)
		}
		h.rep.peerNote("SFTPGo", "not run: "+why+"; to build it by hand: `"+h.sftpgoHowTo()+"`")
		return nil
	}
	h.rep.versions["sftpgo"] = sftpgoVersionOf(ctx, bin) + " (built from the " + sftpgoVersion + " tag with -tags " + sftpgoTags + ")"
	p, err := h.startSFTPGo(ctx, bin, st)
	if err != nil {
		h.rep.peerNote("SFTPGo", "failed to start: "+oneLine(err.Error()))
		return nil
	}
	h.rep.peerNote("SFTPGo", fmt.Sprintf("SFTPGo's FTP server, one user on an S3 filesystem (same store, path style), "+
		"in-memory data provider; upload part size %d MiB, upload concurrency %d, download part size %d MiB, "+
		"download concurrency %d; every transfer is piped through an unlinked temp file in the work directory (under %s), "+
		"and each upload allocates a buffer of the part size, even for a 4 KiB file", partSize>>20, partConcurrency, partSize>>20, partConcurrency,
		os.TempDir()))
	return p
}

// sftpgoVersionOf is the first line of `sftpgo -v`.
func sftpgoVersionOf(ctx context.Context, bin string) string {
	return firstLine(runCmd(ctx, 30*time.Second, nil, "", bin, "-v"))
}

// startSFTPGo runs `sftpgo serve` with a config that turns on only FTP on
// 127.0.0.1 (SFTP, HTTP, WebDAV and telemetry off) and loads one user
// whose filesystem is S3 on st.
func (h *harness) startSFTPGo(ctx context.Context, bin string, st *s3store) (*ftpServer, error) {
	return h.startSFTPGoAt(ctx, bin, st, "sftpgo", sftpgoPasvFirst, sftpgoPasvLast)
}

// startSFTPGoAt is startSFTPGo with its files in h.work/name and passive
// ports first..last.
func (h *harness) startSFTPGoAt(ctx context.Context, bin string, st *s3store, name string, first, last int) (*ftpServer, error) {
	for _, p := range []int{first, last} {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return nil, fmt.Errorf("SFTPGo's passive port %d is taken: %w", p, err)
		}
		ln.Close()
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.work, name)
	for _, d := range []string{"home", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	cfg, err := json.MarshalIndent(sftpgoConfig(port, first, last, filepath.Join(dir, "tmp")), "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sftpgo.json"), cfg, 0o600); err != nil {
		return nil, err
	}
	users, err := json.MarshalIndent(h.sftpgoUsers(st, filepath.Join(dir, "home")), "", "  ")
	if err != nil {
		return nil, err
	}
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, users, 0o600); err != nil {
		return nil, err
	}
	p, err := h.procs.start("sftpgo", nil, bin, "serve",
		"--config-dir", dir, "--config-file", "sftpgo.json",
		"--loaddata-from", usersFile, "--loaddata-mode", "0",
		"--log-file-path", "", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitFTP(ctx, addr, p, 60*time.Second); err != nil {
		_ = p.stop()
		return nil, err
	}
	return &ftpServer{name: "sftpgo", addr: addr, user: "bench", pass: h.ftpPass, proc: p, base: "/", keyPrefix: "sftpgo/"}, nil
}

// jsonObj keeps the config literals short.
type jsonObj = map[string]any

// sftpgoConfig is the part of sftpgo.json that differs from SFTPGo's
// defaults (its sftpgo.json; viper fills in the rest).
func sftpgoConfig(port, pasvFirst, pasvLast int, tmp string) jsonObj {
	return jsonObj{
		"common": jsonObj{
			"idle_timeout": 30, // minutes
			// An S3 transfer goes through a pipe buffered in an unlinked
			// temp file (github.com/eikenb/pipeat); the default is
			// os.TempDir(), here one under the work directory (same disk).
			"temp_path": tmp,
			// The small-file figure opens 16 sessions from 127.0.0.1;
			// the default allows 20 per host.
			"max_per_host_connections": 0,
			"defender":                 jsonObj{"enabled": false},
		},
		"sftpd":     jsonObj{"bindings": []jsonObj{{"port": 0}}},
		"httpd":     jsonObj{"bindings": []jsonObj{{"port": 0}}},
		"webdavd":   jsonObj{"bindings": []jsonObj{{"port": 0}}},
		"telemetry": jsonObj{"bind_port": 0},
		"ftpd": jsonObj{
			"bindings": []jsonObj{{
				"port": port, "address": "127.0.0.1",
				"force_passive_ip": "127.0.0.1",
			}},
			"passive_port_range": jsonObj{"start": pasvFirst, "end": pasvLast},
		},
		"data_provider": jsonObj{
			"driver":               "memory",
			"name":                 "",
			"create_default_admin": false,
			// The store's objects are not counted.
			"track_quota": 0,
		},
	}
}

// sftpgoUsers is the loaddata dump: one user whose filesystem is S3 on
// st under the key prefix sftpgo/, with s3ftpd's password hash (bcrypt at
// the lowest cost, as s3ftpd's user).
func (h *harness) sftpgoUsers(st *s3store, home string) jsonObj {
	return jsonObj{
		"users": []jsonObj{{
			"username":    "bench",
			"password":    h.ftpHash,
			"status":      1,
			"home_dir":    home,
			"permissions": jsonObj{"/": []string{"*"}},
			"filesystem": jsonObj{
				"provider": 1, // S3
				"s3config": jsonObj{
					"bucket":               st.bucket,
					"region":               "us-east-1",
					"endpoint":             st.endpoint,
					"access_key":           st.access,
					"access_secret":        jsonObj{"status": "Plain", "payload": st.secret},
					"force_path_style":     true,
					"key_prefix":           sftpgoPrefix,
					"upload_part_size":     partSize >> 20, // MiB
					"upload_concurrency":   partConcurrency,
					"download_part_size":   partSize >> 20,
					"download_concurrency": partConcurrency,
				},
			},
		}},
		"version": 17, // dataprovider.DumpVersion of v2.7.5
	}
}
