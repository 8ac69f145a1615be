package serve

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/specs"
)

//go:embed page.html
var page []byte

// ResultsFile is results.json in Out, written at shutdown (and served live).
const ResultsFile = "results.json"

// published are the inputs a visitor fetches from /inputs/: the run's CA
// (certificate and key, to certify its own TLS key), the local
// verifier's key and the trusted-verifiers list, and the endorsement of
// serve's attester. All are test keys of this serve run.
var published = []string{inputs.CACertFile, inputs.CAKeyFile, inputs.VerifierKeyFile, inputs.TrustedVerifiersFile, inputs.EndorsementFile}

type httpServer struct{ srv *http.Server }

func (h *httpServer) serve(ln net.Listener) { h.srv.Serve(ln) }

func (h *httpServer) shutdown(ctx context.Context) error {
	if err := h.srv.Shutdown(ctx); err != nil {
		return h.srv.Close()
	}
	return nil
}

func (s *Server) newHTTP() *httpServer {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		w.Write(page)
	})
	mux.HandleFunc("GET /cases.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Table.Entries) })
	mux.HandleFunc("GET /conns.json", func(w http.ResponseWriter, r *http.Request) {
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		writeJSON(w, map[string]any{"conns": s.Conns(since), "rejected": s.Rejected(), "listen": s.ln.Addr().String(), "domain": s.cfg.Domain})
	})
	mux.HandleFunc("GET /results.json", func(w http.ResponseWriter, r *http.Request) {
		res := s.Results()
		b, err := res.Marshal()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /inputs/{file}", func(w http.ResponseWriter, r *http.Request) {
		f := r.PathValue("file")
		if !slices.Contains(published, f) {
			http.Error(w, fmt.Sprintf("no input %q; there are %v", f, published), http.StatusNotFound)
			return
		}
		http.ServeFile(w, r, s.Inputs.Path(f))
	})
	// Each connection's folder: key log, capture, logs.
	mux.Handle("GET /conns/", http.StripPrefix("/conns/", http.FileServer(http.Dir(filepath.Join(s.cfg.Out, "conns")))))
	mux.HandleFunc("POST /endorsements", s.postEndorsement)
	mux.HandleFunc("/dial", s.dial)
	return &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2*s.cfg.ConnTimeout + time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// postEndorsement takes a visitor's endorsement (the contract's
// endorsement file), which serve's verifier uses to appraise its
// background-check evidence: POST /endorsements?visitor=NAME.
func (s *Server) postEndorsement(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("visitor")
	if !validVisitor(v) {
		http.Error(w, "visitor: want a name of [a-z0-9-], as in the server name's <visitor>-- prefix", http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	en, err := contract.ParseEndorsement(b)
	if err != nil {
		http.Error(w, "not an endorsement file (peers/CONTRACT.md): "+err.Error(), http.StatusBadRequest)
		return
	}
	if s.real != nil {
		if err := s.real.provision(r.Context(), en); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	p := s.endorsementPath(v)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		err = results.WriteFileAtomic(p, b)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.logf("endorsement of %s received", v)
	w.WriteHeader(http.StatusNoContent)
}

// dial plays a case against a visitor's server and answers its verdict:
// /dial?case=<name or ID>&addr=host:port&visitor=NAME.
func (s *Server) dial(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	v := q.Get("visitor")
	if !validVisitor(v) {
		http.Error(w, "visitor: want a name of [a-z0-9-]", http.StatusBadRequest)
		return
	}
	e, ok := s.Table.Find(q.Get("case"), contract.Server)
	if !ok {
		http.Error(w, fmt.Sprintf("case %q: no case with the visitor as server (GET /cases.json lists them)", q.Get("case")), http.StatusNotFound)
		return
	}
	c, err := s.Dial(r.Context(), e, v, q.Get("addr"))
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), code)
		return
	}
	writeJSON(w, c)
}

// Results are the verdicts so far in the results schema: for each
// visitor, case and role, its latest connection. Artifact paths are
// relative to Out (as in ResultsFile, and as served under /conns/).
func (s *Server) Results() *results.Results {
	res := specs.Results(types.Report{StartTime: s.started, EndTime: time.Now()}, s.runID)
	res.SuiteVersion = specs.SuiteVersion
	latest := map[string]results.Spec{}
	visitors := map[string]bool{}
	for _, c := range s.Conns(0) {
		latest[c.Spec.ID] = c.Spec
		visitors[c.Visitor] = true
	}
	for _, sp := range latest {
		res.Specs = append(res.Specs, sp)
	}
	for v := range visitors {
		if v != results.InProcessPeer {
			res.Peers = append(res.Peers, results.Peer{Name: v, Kind: results.Process, Version: "visitor"})
		}
	}
	res.Sort()
	return res
}

// WriteResults writes ResultsFile in Out.
func (s *Server) WriteResults() (string, error) {
	p := filepath.Join(s.cfg.Out, ResultsFile)
	return p, s.Results().Write(p)
}
