package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

const usage = `s3ftpd — an FTP/FTPS server that stores files in S3.

Usage:
  s3ftpd [--config FILE]                 serve (no config: embedded store, demo/demo on 127.0.0.1:2121)
  s3ftpd check-config --config FILE      validate a config file and exit (non-zero, naming every bad field)
  s3ftpd cluster status --config FILE    the cluster's nodes, their sessions and pending PASVs
  s3ftpd hash-password [--algo argon2id] read a password (no echo on a terminal; else a line of stdin), print its hash
  s3ftpd version                         version, commit and Go version (also --version)
  s3ftpd help                            this text (also --help)

Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the config file (users, limits, log level,
banner), the TLS certificate and the transfer log, and never stops the server.
See README.md for the configuration, docs/operations.md for running it.
`

// buildVersion may be set at build time:
// go build -ldflags "-X main.buildVersion=v1.2.3" ./cmd/s3ftpd
// (a linker-set string is the one package variable main keeps).
var buildVersion string

// versionText is `s3ftpd version`: the version (ldflags, else the module
// version), the commit and its time when the build recorded them, and Go's.
func versionText() string {
	v, commit, when, dirty := version(), "", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
	}
	out := "s3ftpd " + v
	if commit != "" {
		out += " commit " + commit + dirty
		if when != "" {
			out += " " + when
		}
	}
	out += " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if !embeddedIncluded {
		out += " (without the embedded store: -tags noembed)"
	}
	return out + "\n"
}

// checkConfig is `s3ftpd check-config --config FILE`.
func checkConfig(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("s3ftpd check-config", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "", "the YAML config file to check")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("check-config: --config FILE is required")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("invalid config %s:\n%w", *cfgPath, err)
	}
	store := "embedded store in " + cfg.Store.Embedded.Dir
	if !cfg.UseEmbedded() {
		store = "S3 bucket " + cfg.Store.S3.Bucket
	}
	mode := "single node"
	if cfg.Cluster.Enabled() {
		mode = "cluster node " + cfg.Cluster.NodeID
	}
	_, err = fmt.Fprintf(stdout, "%s: OK — listen %s, passive %s, %s, %d user(s), %s\n",
		*cfgPath, cfg.Listen, cfg.Passive.Ports.String(), store, len(cfg.Users), mode)
	return err
}
