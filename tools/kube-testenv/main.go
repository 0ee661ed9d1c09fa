// Command kube-testenv is a test-only Kubernetes control plane in one binary.
//
// It dispatches on its first argument:
//
//	kube-testenv etcd --data-dir DIR --listen-client-urls URL --listen-peer-urls URL
//	kube-testenv kube-apiserver [kube-apiserver flags...]
//	kube-testenv kube-controller-manager [flags...]
//	kube-testenv kube-scheduler [flags...]
//	kube-testenv version
//
// The Kubernetes components are the upstream commands from k8s.io/kubernetes/cmd/...;
// etcd is embedded with go.etcd.io/etcd/server/v3/embed at the version Kubernetes pins.
// It is driven by tools/testenv; versions are pinned in tools/versions.env.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // for CronJob time zone support, as upstream mains do

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	"k8s.io/component-base/version"

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s {etcd|kube-apiserver|kube-controller-manager|kube-scheduler|version} [flags...]\n",
		filepath.Base(os.Args[0]))
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	// Each component sees itself as argv[0] and only its own flags.
	os.Args = append([]string{name}, os.Args[2:]...)

	switch name {
	case "etcd":
		os.Exit(runEtcd(os.Args[1:]))
	case "version", "--version", "-version":
		fmt.Println(version.Get().GitVersion)
		return
	}
	newCmd, ok := commands[name]
	if !ok {
		usage()
		os.Exit(2)
	}
	os.Exit(cli.Run(newCmd()))
}

func parseURLs(s string) ([]url.URL, error) {
	var out []url.URL
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", part, err)
		}
		out = append(out, *u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no URL given")
	}
	return out, nil
}

// runEtcd starts a single-member embedded etcd and serves until SIGTERM/SIGINT.
func runEtcd(args []string) int {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	name := fs.String("name", "testenv", "member name")
	dataDir := fs.String("data-dir", "", "data directory (required)")
	clientURLs := fs.String("listen-client-urls", "http://127.0.0.1:2379", "comma-separated client URLs")
	peerURLs := fs.String("listen-peer-urls", "http://127.0.0.1:2380", "comma-separated peer URLs")
	logLevel := fs.String("log-level", "warn", "log level (debug, info, warn, error)")
	unsafeNoFsync := fs.Bool("unsafe-no-fsync", true, "skip fsync (test use only)")
	quotaBytes := fs.Int64("quota-backend-bytes", 2<<30, "backend quota in bytes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir is required")
		return 2
	}
	curls, err := parseURLs(*clientURLs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd: --listen-client-urls:", err)
		return 2
	}
	purls, err := parseURLs(*peerURLs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd: --listen-peer-urls:", err)
		return 2
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = curls
	cfg.AdvertiseClientUrls = curls
	cfg.ListenPeerUrls = purls
	cfg.AdvertisePeerUrls = purls
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = *logLevel
	cfg.UnsafeNoFsync = *unsafeNoFsync
	cfg.QuotaBackendBytes = *quotaBytes
	// embed.NewConfig leaves this at 0, which logs every request as "expensive".
	cfg.WarningUnaryRequestDuration = 300 * time.Millisecond
	// No metrics/pprof listeners beyond the client URLs.
	cfg.ListenMetricsUrls = nil

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd: start:", err)
		return 1
	}
	defer e.Close()

	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd: ready, serving clients on %s\n", *clientURLs)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "etcd: took too long to start")
		return 1
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcd: received %s, shutting down\n", s)
		return 0
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcd: serve error:", err)
		return 1
	case <-e.Server.StopNotify():
		fmt.Fprintln(os.Stderr, "etcd: server stopped")
		return 1
	}
}
