package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/reference"
)

func init() {
	register(command{"peer", "play one side of one case as a contract peer (peers/CONTRACT.md)", peerCmd})
}

func peerCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("peer", "peer   (configured by the ATLS_* environment of peers/CONTRACT.md)", stderr)
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return contract.ExitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance peer: unexpected argument %q (configuration comes from ATLS_* variables)\n", fs.Arg(0))
		return contract.ExitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return peerMain(ctx, os.Getenv, stdout, stderr)
}

func peerMain(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := contract.FromEnv(getenv)
	if err != nil {
		code := contract.ExitFor(err)
		fmt.Fprintf(stderr, "conformance peer: exit %d: %v\n", code, err)
		o := contract.Outcome{Contract: contract.Version, TestCase: getenv(contract.EnvTestCase),
			Role: contract.Role(getenv(contract.EnvRole)), Profile: getenv(contract.EnvProfile),
			Handshake: contract.HandshakeNone, AppData: contract.AppDataNone, Error: err.Error()}
		if o.Role != contract.Client {
			o.Role = contract.Server
		}
		o.Print(stdout)
		return code
	}
	if f := getenv(reference.EnvFault); f != "" {
		return fault(ctx, f, cfg, stdout, stderr)
	}
	o, code := reference.Run(ctx, cfg, reference.Options{Log: stderr})
	o.Print(stdout)
	return code
}

func fault(ctx context.Context, f string, cfg contract.Config, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "conformance peer: committing fault %q\n", f)
	wait := func() int {
		<-ctx.Done() // until killed
		return contract.ExitTimeout
	}
	switch f {
	case reference.FaultCrash:
		// A signal cannot kill a container's PID 1 (the kernel drops those
		// without a handler), so the crash is simulated: what an aborted
		// process leaves, stderr noise and 128+SIGABRT, without an outcome.
		fmt.Fprintln(stderr, "SIGABRT: abort\n(simulated crash)")
		return 128 + int(syscall.SIGABRT)
	case reference.FaultGarbage:
		fmt.Fprintln(stdout, "}{ this is not an outcome \x00\xff")
		return contract.ExitOK
	case reference.FaultNoListen:
		return wait()
	case reference.FaultHang:
		var conn net.Conn
		var err error
		if cfg.Role == contract.Server {
			var ln net.Listener
			if ln, err = net.Listen("tcp", cfg.Listen); err == nil {
				defer ln.Close()
				conn, err = ln.Accept()
			}
		} else {
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Connect)
		}
		if err == nil {
			defer conn.Close()
		}
		return wait()
	}
	fmt.Fprintf(stderr, "conformance peer: unknown %s %q\n", reference.EnvFault, f)
	return contract.ExitConfig
}
