package main

import (
	"fmt"
	"io"

	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/suite/specs"
)

func init() {
	register(command{"profiles", "list the attested TLS profiles and their interaction models", profilesCmd})
}

func profilesCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("profiles", "profiles", stderr)
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	for _, name := range profile.Names() {
		fmt.Fprintf(stdout, "%s\n", name)
		for _, c := range specs.Cases() {
			if c.Model.Profile != name {
				continue
			}
			fmt.Fprintf(stdout, "  %s\n", c.Model.ID())
		}
	}
	return 0
}
