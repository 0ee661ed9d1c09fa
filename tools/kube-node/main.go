// Command kube-node is the test real node's Kubernetes side in one binary.
//
// It dispatches on its first argument:
//
//	kube-node kubelet [kubelet flags...]
//	kube-node kube-proxy [kube-proxy flags...]
//	kube-node version
//
// Both are the upstream commands from k8s.io/kubernetes/cmd/... at the version the
// control plane (tools/kube-testenv) is built from; versions are pinned in
// tools/versions.env. It is a module of its own so that building it never changes
// the control plane's inputs. It is driven by tools/testenv up --real-node.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	"k8s.io/component-base/version"

	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kubelet":    func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy": proxy.NewProxyCommand,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s {kubelet|kube-proxy|version} [flags...]\n", filepath.Base(os.Args[0]))
		os.Exit(2)
	}
	name := os.Args[1]
	// Each component sees itself as argv[0] and only its own flags.
	os.Args = append([]string{name}, os.Args[2:]...)
	if name == "version" || name == "--version" {
		fmt.Println(version.Get().GitVersion)
		return
	}
	newCmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown command %q (want kubelet, kube-proxy or version)\n", name)
		os.Exit(2)
	}
	os.Exit(cli.Run(newCmd()))
}
