package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
)

// Config is a serve run's configuration.
type Config struct {
	// Listen is the TLS address visitors' clients connect to; HTTP the
	// results page's, the inputs' and dial-out's.
	Listen, HTTP string
	// Out holds the inputs, the journal, results.json and each
	// connection's folder (key log, capture, log).
	Out string
	// Domain is the suffix of every case's server name (DefaultDomain).
	Domain string
	// MaxConns bounds the connections played at once (TLS and dial-out);
	// further clients wait in the listen backlog.
	MaxConns int
	// ConnTimeout bounds one connection (the reference's ATLS_TIMEOUT);
	// HelloTimeout the wait for a client's ClientHello.
	ConnTimeout, HelloTimeout time.Duration
	// CaptureBudget bounds the bytes of connection folders kept: past
	// it the oldest are removed (their verdicts stay).
	CaptureBudget int64
	// Services are the root of trust and verifier: ServicesLocal (the
	// default) or ServicesReal.
	Services string
	// Log receives progress lines.
	Log io.Writer
}

// Defaults of Config.
const (
	DefaultMaxConns      = 16
	DefaultConnTimeout   = 30 * time.Second
	DefaultHelloTimeout  = 10 * time.Second
	DefaultCaptureBudget = 512 << 20
)

// Conn is one judged connection: a journal line.
type Conn struct {
	Seq     int           `json:"seq"`
	Time    time.Time     `json:"time"`
	Visitor string        `json:"visitor"`
	Addr    string        `json:"addr"`
	Case    string        `json:"case"`
	ID      string        `json:"id"`
	Role    contract.Role `json:"visitor_role"`
	Dialed  bool          `json:"dialed,omitempty"`
	// Verdict is results.Pass or results.Fail; Reason the first failure.
	Verdict results.Outcome `json:"verdict"`
	Reason  string          `json:"reason,omitempty"`
	// Dir is the connection's folder relative to Out, "" once rotated.
	Dir  string       `json:"dir,omitempty"`
	Spec results.Spec `json:"spec"`
	size int64
}

// Server is a running serve.
type Server struct {
	cfg      Config
	Table    *Table
	Inputs   *inputs.Inputs
	attester parsectpm.Attester
	real     *realServices // nil with ServicesLocal
	journal  *journal
	sem      chan struct{}
	runID    string
	started  time.Time

	ln, hl net.Listener
	http   *httpServer
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    []*Conn
	seq      int
	rejected map[string]int // connections not played, by why
	kept     int64          // bytes of connection folders on disk
	logMu    sync.Mutex
}

// New prepares a serve run in cfg.Out: the inputs (kept from an earlier
// run there), the attester, and the journal replayed.
func New(cfg Config) (*Server, error) {
	if cfg.Out == "" {
		return nil, errors.New("serve: no output folder")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnTimeout <= 0 {
		cfg.ConnTimeout = DefaultConnTimeout
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = DefaultHelloTimeout
	}
	if cfg.CaptureBudget <= 0 {
		cfg.CaptureBudget = DefaultCaptureBudget
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	t, err := NewTable(cfg.Domain)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, Table: t, sem: make(chan struct{}, cfg.MaxConns), rejected: map[string]int{}, started: time.Now().UTC()}
	inDir := filepath.Join(cfg.Out, "inputs")
	if _, err := os.Stat(filepath.Join(inDir, inputs.CACertFile)); err == nil {
		if s.Inputs, err = inputs.Load(inDir); err != nil {
			return nil, fmt.Errorf("serve: the inputs of an earlier run in %s: %w (remove the folder for fresh ones)", inDir, err)
		}
	} else if s.Inputs, err = inputs.Prepare(inDir); err != nil {
		return nil, err
	}
	// One root of trust for the whole run, so the endorsement visitors
	// fetch holds for every connection.
	if s.attester, s.real, err = startServices(context.Background(), cfg.Services, servicesDir(cfg.Out), s.Inputs); err != nil {
		return nil, err
	}
	b, err := contract.MarshalEndorsement(s.attester.Endorsement())
	if err == nil {
		err = results.WriteFileAtomic(s.Inputs.Path(inputs.EndorsementFile), b)
	}
	if err == nil {
		s.journal, err = openJournal(filepath.Join(cfg.Out, JournalFile), s.replayed)
	}
	if err != nil {
		s.real.close()
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	s.runID = "serve-" + hex.EncodeToString(id[:])
	return s, nil
}

// replayed takes a journal line from an earlier run.
func (s *Server) replayed(c *Conn) {
	if c.Dir != "" {
		if sz, err := dirSize(filepath.Join(s.cfg.Out, c.Dir)); err != nil {
			c.Dir, c.Spec.Artifacts = "", results.Artifacts{}
		} else {
			c.size, s.kept = sz, s.kept+sz
		}
	}
	s.conns = append(s.conns, c)
	s.seq = max(s.seq, c.Seq)
}

func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "%s serve: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Start listens on both addresses and serves until Shutdown.
func (s *Server) Start() error {
	var err error
	if s.ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return fmt.Errorf("serve: --listen: %w", err)
	}
	if s.hl, err = net.Listen("tcp", s.cfg.HTTP); err != nil {
		s.ln.Close()
		return fmt.Errorf("serve: --http: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.http = s.newHTTP()
	go s.http.serve(s.hl)
	go s.accept()
	s.logf("%d cases (%d with the visitor as client on %s, by server name under %s); results page http://%s/; journal %s (%d connections replayed)",
		len(s.Table.Entries), s.Table.count(contract.Client), s.ln.Addr(), s.cfg.Domain, s.hl.Addr(), s.journal.path, len(s.conns))
	return nil
}

// Addr and HTTPAddr are where Start listens.
func (s *Server) Addr() net.Addr     { return s.ln.Addr() }
func (s *Server) HTTPAddr() net.Addr { return s.hl.Addr() }

// Shutdown stops accepting, lets the connections under way finish (or
// ctx end, which cuts them off), writes results.json and closes the
// journal.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
	herr := s.http.shutdown(ctx)
	_, werr := s.WriteResults()
	return errors.Join(herr, werr, s.journal.close(), s.real.close())
}

func (s *Server) accept() {
	for {
		// A free slot first: past MaxConns clients wait in the backlog.
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		c, err := s.ln.Accept()
		if err != nil {
			<-s.sem
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("accept: %v", err)
			time.Sleep(100 * time.Millisecond) // e.g. out of descriptors: let some close
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.handle(c)
		}()
	}
}

// alertUnrecognizedName is a plaintext fatal unrecognized_name alert
// record (RFC 6066 §3): the answer to a server name that is no case.
var alertUnrecognizedName = []byte{21, 3, 3, 0, 2, 2, 112}

// handle reads a client's ClientHello, finds its case by server name
// and plays it.
func (s *Server) handle(c net.Conn) {
	hello, sni, err := readClientHello(c, time.Now().Add(s.cfg.HelloTimeout))
	if err != nil {
		c.Close()
		s.reject("no ClientHello", "%s: %v", c.RemoteAddr(), err)
		return
	}
	visitor, name, err := ParseServerName(sni, s.cfg.Domain)
	var e Entry
	if err == nil {
		var ok bool
		if e, ok = s.Table.Lookup(name, contract.Client); !ok {
			err = fmt.Errorf("%q names no case (GET /cases.json lists them)", sni)
		}
	}
	if err != nil {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write(alertUnrecognizedName)
		c.Close()
		s.reject("unknown server name", "%s: %v", c.RemoteAddr(), err)
		return
	}
	switch visitor {
	case "":
		visitor = addrName(c.RemoteAddr())
	case results.InProcessPeer:
		visitor = "visitor-" + visitor // the reference's own name in results
	}
	ln := &oneConn{c: reference.Prefixed(c, hello), closed: make(chan struct{})}
	s.play(e, visitor, c.RemoteAddr().String(), false, func(cfg *contract.Config, opt *reference.Options) {
		cfg.ServerName, opt.Listener = sni, ln
	})
}

func (s *Server) reject(why, format string, args ...any) {
	s.mu.Lock()
	s.rejected[why]++
	s.mu.Unlock()
	s.logf("not played (%s): %s", why, fmt.Sprintf(format, args...))
}

// Dial plays case e against a visitor's server at addr: the reference is
// the client. It waits for a free slot.
func (s *Server) Dial(ctx context.Context, e Entry, visitor, addr string) (*Conn, error) {
	if e.VisitorRole != contract.Server {
		return nil, fmt.Errorf("case %s has the visitor as %s: connect to %s instead", e.ID, e.VisitorRole, s.ln.Addr())
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("addr %q: want host:port", addr)
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, errors.New("serve is shutting down")
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer func() { <-s.sem }()
	return s.play(e, visitor, addr, true, func(cfg *contract.Config, _ *reference.Options) {
		cfg.Connect, cfg.ServerName = addr, e.Name
	}), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._+=,@-]+`)

// play runs the reference for case e against visitor, judges what it
// saw as `conformance run` does, and records the verdict.
func (s *Server) play(e Entry, visitor, addr string, dialed bool, connect func(*contract.Config, *reference.Options)) *Conn {
	start := time.Now()
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	rel := filepath.Join("conns", fmt.Sprintf("%06d-%s-%s", seq, visitor, unsafeChars.ReplaceAllString(e.ID, "_")))
	dir := filepath.Join(s.cfg.Out, rel)
	r := &interop.Result{Dir: dir, Dirs: map[contract.Role]string{
		contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}}
	refRole := e.VisitorRole.Other()
	scfg, ccfg, err := s.Inputs.Configs(inputs.Pair{TestCase: e.c.Model.ID(), Model: e.c.Model, Dirs: r.Dirs,
		Misbehave: e.c.Misbehave, Timeout: s.cfg.ConnTimeout})
	cfg := scfg
	if refRole == contract.Client {
		cfg = ccfg
	}
	opt := e.c.Reference
	opt.Wire, opt.Attester, opt.KeepSending = &r.Wire, s.attester, opt.KeepSending || e.c.Negative != nil
	connect(&cfg, &opt)
	if s.real != nil && cfg.Verifier != "" {
		// Appraisals and passports through Veraison, whose EAR key is
		// the run's verifier key: the trusted-verifiers list holds.
		cfg.Verifier = s.real.verifier()
	}
	if s.real != nil && cfg.TPM != "" {
		cfg.TPM = s.real.tpm() // the shared attester's, for the log
	}
	if cfg.PeerAttests() != contract.AttestsNone {
		// The visitor's endorsement, as it posted it (else appraisal
		// fails for want of one, which the reason says).
		cfg.Endorsements = s.endorsementPath(visitor)
	}
	c := &Conn{Seq: seq, Time: start.UTC(), Visitor: visitor, Addr: addr, Case: e.Name, ID: e.ID, Role: e.VisitorRole, Dialed: dialed, Dir: rel}
	if err != nil {
		r.ReferenceExit, r.Reference.Error = -1, err.Error()
		if opt.Listener != nil {
			opt.Listener.Close()
		}
	} else {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnTimeout+reference.TrailingWait+time.Second)
		r.Reference, r.ReferenceExit = reference.Run(ctx, cfg, opt)
		cancel()
	}
	r.Took = time.Since(start)
	c.Reason = Judge(e.c, r)
	if err != nil {
		c.Reason = "serve could not set up the case: " + err.Error()
	}
	c.Verdict = results.Pass
	if c.Reason != "" {
		c.Verdict = results.Fail
	}
	rec := &interop.Record{Peer: visitor, PeerRole: e.VisitorRole, Model: e.c.Model, Variant: e.c.Variant, Reqs: e.reqs}
	rec.Fill(r)
	c.Spec = rec.Spec(fmt.Sprintf("%s as %s in %s: %s", visitor, e.VisitorRole, e.ID, e.describe()), r.Took, s.cfg.Out)
	c.Spec.Outcome, c.Spec.Message = c.Verdict, c.Reason
	c.size, _ = dirSize(dir)
	s.record(c)
	s.logf("#%d %s (%s) as %s in %s: %s%s", seq, visitor, addr, e.VisitorRole, e.ID, c.Verdict, firstLine(c.Reason))
	return c
}

func firstLine(s string) string {
	if s == "" {
		return ""
	}
	l, _, _ := strings.Cut(s, "\n")
	return ": " + l
}

// record journals c, then keeps it and rotates the oldest folders out
// past the capture budget.
func (s *Server) record(c *Conn) {
	if err := s.journal.append(c); err != nil {
		s.logf("journal: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = append(s.conns, c)
	s.kept += c.size
	for _, old := range s.conns {
		if s.kept <= s.cfg.CaptureBudget || old == c {
			break
		}
		if old.Dir == "" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.cfg.Out, old.Dir)); err != nil {
			s.logf("rotating %s out: %v", old.Dir, err)
			continue
		}
		s.kept -= old.size
		old.Dir, old.size, old.Spec.Artifacts = "", 0, results.Artifacts{}
	}
}

// Conns are the judged connections so far, oldest first, from seq on.
func (s *Server) Conns(since int) []Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Conn
	for _, c := range s.conns {
		if c.Seq > since {
			out = append(out, *c)
		}
	}
	return out
}

// Rejected counts the connections not played, by why.
func (s *Server) Rejected() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.rejected)
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// addrName names a visitor that sent no name by its address's host.
func addrName(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		host = a.String()
	}
	return "ip-" + strings.Trim(notName.ReplaceAllString(strings.ToLower(host), "-"), "-")
}

var notName = regexp.MustCompile(`[^a-z0-9.]+`)

// visitorRE is a visitor's name as given to dial-out or the endorsement
// upload: what a server-name label allows.
var visitorRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validVisitor: a name visitorRE takes, not the reference's own.
func validVisitor(v string) bool { return visitorRE.MatchString(v) && v != results.InProcessPeer }

func (s *Server) endorsementPath(visitor string) string {
	return filepath.Join(s.cfg.Out, "visitors", visitor, inputs.EndorsementFile)
}

// oneConn is a listener that yields one accepted connection, for the
// reference server of one case.
type oneConn struct {
	mu     sync.Mutex
	c      net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.mu.Lock()
		if l.c != nil {
			l.c.Close() // never accepted: the case did not start
		}
		l.mu.Unlock()
	})
	return nil
}

func (l *oneConn) Addr() net.Addr {
	return &net.TCPAddr{}
}
