package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/attested-tls/conformance/suite/serve"
)

func init() {
	register(command{"serve", "run the reference as standing endpoints for an interop table, with a live results page", serveCmd})
}

const serveSynopsis = `serve [--listen ADDR] [--http ADDR] [--out DIR] [flags]
       serve --cases [--domain NAME]

Runs the reference as a standing set of endpoints. A visiting client
connects to --listen and picks its case by the server name it sends:

    [<visitor>--]<case labels>.<domain>

where the case labels are the case ID in lower case with "/" and ","
as label separators and "+" and "=" as "-" (ta-07/server-attests/bg+x509
is ta-07.server-attests.bg-x509.cases.attested.test), and the optional
<visitor>-- prefix names the visitor on the results page (else its IP
address does). --cases prints the table; GET /cases.json serves it.

For cases with the visitor as server, serve dials it:
    GET or POST http://<http>/dial?case=<name or ID>&addr=host:port&visitor=NAME

Each connection is played by the reference and judged as 'conformance
run' judges a peer (alerts, no data after a failure, the profile's wire
checks). The HTTP address serves the live results page (/), the run's
trust anchors and keys (/inputs/ca.pem, ca-key.pem, verifier-key.pem,
trusted-verifiers.json, endorsements.json), each connection's key log,
capture and logs, and /results.json ('conformance report --results'
renders it). A visitor attesting with background-check evidence posts its
endorsement first: POST /endorsements?visitor=NAME.

Every verdict is appended to DIR/journal.jsonl as it is made; serve
replays it at start, so a restart in the same DIR keeps the results and
the trust anchors. SIGINT or SIGTERM lets connections under way finish
and writes DIR/results.json.

--services real gives the reference a swtpm as its root of trust and
Veraison's services (host processes, built with 'make veraison') as its
verifier, with the run's verifier key as Veraison's EAR key; posted
endorsements are provisioned there.`

func serveCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", serveSynopsis, stderr)
	listen := fs.String("listen", "127.0.0.1:4433", "the TLS address visitors' clients connect to")
	httpAddr := fs.String("http", "127.0.0.1:8080", "the address of the results page, inputs and dial-out")
	out := fs.String("out", "serve-out", "the folder of inputs, journal, results.json and connection files")
	domain := fs.String("domain", serve.DefaultDomain, "the suffix of every case's server name")
	maxConns := fs.Int("max-conns", serve.DefaultMaxConns, "connections played at once (more wait in the backlog)")
	connTimeout := fs.Duration("conn-timeout", serve.DefaultConnTimeout, "a connection's deadline")
	helloTimeout := fs.Duration("hello-timeout", serve.DefaultHelloTimeout, "how long a client may take to send its ClientHello")
	budget := fs.Int64("capture-budget", serve.DefaultCaptureBudget>>20, "MiB of connection files kept; past it the oldest are removed (verdicts stay)")
	services := fs.String("services", serve.ServicesLocal, "the root of trust and verifier: local (a software root of trust, the in-process verifier) or real (a swtpm and Veraison's services, as host processes)")
	cases := fs.Bool("cases", false, "print the case table and exit")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *cases {
		t, err := serve.NewTable(*domain)
		if err != nil {
			fmt.Fprintf(stderr, "conformance serve: %v\n", err)
			return 2
		}
		printCases(stdout, t)
		return 0
	}
	switch {
	case *services != serve.ServicesLocal && *services != serve.ServicesReal:
		fmt.Fprintf(stderr, "conformance serve: --services %q: want %s or %s\n", *services, serve.ServicesLocal, serve.ServicesReal)
		return 2
	case *maxConns < 1 || *connTimeout <= 0 || *helloTimeout <= 0 || *budget < 1:
		fmt.Fprintln(stderr, "conformance serve: --max-conns, --conn-timeout, --hello-timeout and --capture-budget must be positive")
		return 2
	}
	s, err := serve.New(serve.Config{Listen: *listen, HTTP: *httpAddr, Out: *out, Domain: *domain, MaxConns: *maxConns,
		ConnTimeout: *connTimeout, HelloTimeout: *helloTimeout, CaptureBudget: *budget << 20, Services: *services, Log: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "conformance serve: %v\n", err)
		return 2
	}
	if err := s.Start(); err != nil {
		fmt.Fprintf(stderr, "conformance serve: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop() // a second signal kills at once
	fmt.Fprintln(stdout, "conformance serve: shutting down: letting connections under way finish")
	sctx, cancel := context.WithTimeout(context.Background(), *connTimeout+5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "conformance serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "conformance serve: wrote %s\n", strings.TrimSuffix(*out, "/")+"/"+serve.ResultsFile)
	return 0
}

// printCases prints the case table: server name, visitor role, what the
// visitor must do.
func printCases(w io.Writer, t *serve.Table) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER NAME\tVISITOR\tCASE\tEXPECT")
	for _, e := range t.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.VisitorRole, e.ID, e.Expect)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d cases; a visitor may prefix the first label with <its name>--\n", len(t.Entries))
}
