package veraison

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/veraison/apiclient/common"
)

// DefaultTimeout bounds a call whose context has no deadline: every HTTP
// exchange with the verifier has one.
const DefaultTimeout = 30 * time.Second

// maxProblem bounds what is kept of an error response's body.
const maxProblem = 2048

// StatusError is a Veraison API answer with an unexpected HTTP status,
// with the problem detail the service sent (RFC 7807 JSON, kept raw).
type StatusError struct {
	Method, URL string
	Status      int
	Problem     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("veraison: %s %s: HTTP %d: %s", e.Method, e.URL, e.Status, e.Problem)
}

// boundTransport ties every request of one operation to its context (so
// apiclient, which takes none, still honours the deadline) and remembers
// the first error status the services answered, which apiclient reduces to
// a status line.
type boundTransport struct {
	ctx  context.Context
	base http.RoundTripper

	mu     sync.Mutex
	status *StatusError
}

func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req.Clone(t.ctx))
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxProblem))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	t.mu.Lock()
	if t.status == nil {
		t.status = &StatusError{Method: req.Method, URL: req.URL.String(), Status: res.StatusCode, Problem: strings.TrimSpace(string(body))}
	}
	t.mu.Unlock()
	return res, nil
}

// wrap adds the remembered status, if any, to an apiclient error.
func (t *boundTransport) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	t.mu.Lock()
	st := t.status
	t.mu.Unlock()
	if st != nil {
		return fmt.Errorf("veraison: %s: %w (%w)", op, st, err)
	}
	if cerr := t.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("veraison: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("veraison: %s: %w", op, err)
}

// bind returns a context with a deadline (the caller's, else
// DefaultTimeout), an apiclient client whose every request carries it, and
// the transport for error reporting.
func bind(ctx context.Context, base http.RoundTripper) (context.Context, context.CancelFunc, *common.Client, *boundTransport) {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
	}
	t := &boundTransport{ctx: ctx, base: base}
	// No client Timeout: the context's deadline governs (apiclient's
	// default client would impose a fixed 5 s instead).
	return ctx, cancel, &common.Client{HTTPClient: http.Client{Transport: t}}, t
}
