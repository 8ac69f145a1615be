package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/suite/interop"
)

func init() {
	register(command{"peers", "list the peers (peers/*/manifest.json) and what they implement", peersCmd})
}

const peersSynopsis = `peers [--dir DIR]

Lists each peer folder's manifest: how it runs (image, command), the
profiles, roles, topologies, credentials, TPMs, verifiers and misbehaviours
it implements, how many pair specs 'conformance run --peer NAME' declares
for it, and how many expected failures its expected.json lists.`

func peersCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("peers", peersSynopsis, stderr)
	dir := fs.String("dir", "", "folder of peer folders (default: the module's peers/)")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance peers: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx := context.Background()
	if *dir == "" {
		root, err := images.ModuleRoot(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "conformance peers: %v\n", err)
			return 1
		}
		*dir = filepath.Join(root, "peers")
	}
	manifests, _ := filepath.Glob(filepath.Join(*dir, "*", "manifest.json"))
	slices.Sort(manifests)
	if len(manifests) == 0 {
		fmt.Fprintf(stderr, "conformance peers: no */manifest.json under %s\n", *dir)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	code := 0
	for _, mf := range manifests {
		p, err := interop.LoadPeer(ctx, filepath.Dir(mf)+string(os.PathSeparator))
		if err != nil {
			fmt.Fprintf(stderr, "conformance peers: %v\n", err)
			code = 1
			continue
		}
		m := p.Manifest
		fmt.Fprintf(tw, "%s\t%s (contract %d)\n", m.Name, m.Version, m.Contract)
		row := func(k string, vs ...string) {
			if len(vs) > 0 && strings.Join(vs, "") != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", k, strings.Join(vs, ", "))
			}
		}
		row("image", m.Image)
		row("command", strings.Join(m.Command, " "))
		row("profiles", m.Profiles...)
		roles := make([]string, len(m.Roles))
		for i, r := range m.Roles {
			roles[i] = string(r)
		}
		row("roles", roles...)
		row("topologies", m.Topologies...)
		row("credentials", m.Credentials...)
		row("tpms", m.TPMs...)
		row("verifiers", m.Verifiers...)
		row("misbehaviours", m.Misbehaviours...)
		row("env", m.Env...)
		row("pair specs", fmt.Sprint(len(interop.Matrix(m, false))))
		row("expected failures", fmt.Sprintf("%d (%s)", len(p.Expected.Failures), p.ExpectedPath))
	}
	tw.Flush()
	return code
}
