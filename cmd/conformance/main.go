// Command conformance runs the attested TLS conformance suite.
//
//	conformance run       run the specs against peers and write reports
//	conformance peers     list the peers and what their manifests claim
//	conformance report    render the reports again from a results file
//	conformance profiles  list the attested TLS profiles and their models
//	conformance peer      play one side of one case as a contract peer
//	conformance serve     standing reference endpoints for an interop table
//	conformance vectors   generate or check the published test vectors
//	conformance idle      a kept peer container's first process (the suite's)
//
// Each subcommand takes --help.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

// commands are registered by each subcommand's file (init), so adding a
// subcommand touches only its own file.
var commands []command

func register(c command) {
	commands = append(commands, c)
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: conformance <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n'conformance <command> --help' describes a command's flags.")
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "conformance: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// flagHelp is flag.ErrHelp: --help was asked for, which is no error.
var flagHelp = flag.ErrHelp

// newFlags makes a flag set that prints its usage on --help.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: conformance %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
