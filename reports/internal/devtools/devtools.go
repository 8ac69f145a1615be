// Package devtools drives a headless Chromium over the Chrome DevTools
// Protocol, just enough for the report tests: open a page, collect
// console errors and exceptions, evaluate JavaScript, take a screenshot.
package devtools

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Browser is a running Chromium and its DevTools connection.
type Browser struct {
	cmd     *exec.Cmd
	ws      *wsConn
	profile string

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	pages   map[string]*Page // by session ID
	readErr error
	done    chan struct{}
}

type reply struct {
	Result json.RawMessage
	Err    error
}

type wireMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

var listeningRE = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Launch starts binary (e.g. "chromium") headless with a throwaway
// profile and connects to it. extra flags are appended (e.g.
// "--window-size=1400,1000"). The browser runs in its own process group,
// so Close can end it and every child it spawned.
func Launch(ctx context.Context, binary string, extra ...string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "devtools-profile-")
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-component-update",
		"--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + profile,
	}, extra...)
	args = append(args, "about:blank")
	cmd := exec.Command(binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// An explicit pipe rather than StderrPipe: the browser's children keep
	// stderr open, and Wait must not close it under the reader.
	stderr, stderrW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, err
	}
	cmd.Stderr = stderrW
	err = cmd.Start()
	stderrW.Close()
	if err != nil {
		stderr.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("devtools: start %s: %w", binary, err)
	}
	b := &Browser{cmd: cmd, profile: profile, pending: map[int64]chan reply{}, pages: map[string]*Page{}, done: make(chan struct{})}
	endpoint := make(chan string, 1)
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if log.Len() < 8<<10 {
				log.WriteString(line + "\n")
			}
			logMu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil && !sent {
				endpoint <- m[1]
				sent = true
			}
		}
		if !sent {
			close(endpoint)
		}
		io.Copy(io.Discard, stderr)
		stderr.Close()
	}()
	var ep string
	select {
	case e, ok := <-endpoint:
		if !ok {
			b.kill()
			logMu.Lock()
			defer logMu.Unlock()
			return nil, fmt.Errorf("devtools: %s exited before listening:\n%s", binary, log.String())
		}
		ep = e
	case <-ctx.Done():
		b.kill()
		return nil, fmt.Errorf("devtools: waiting for %s: %w", binary, ctx.Err())
	}
	u, err := wsURL(ep)
	if err != nil {
		b.kill()
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		b.kill()
		return nil, fmt.Errorf("devtools: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	ws, err := dialWebSocket(c, u)
	if err != nil {
		c.Close()
		b.kill()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	b.ws = ws
	go b.readLoop()
	return b, nil
}

func (b *Browser) readLoop() {
	defer close(b.done)
	for {
		data, err := b.ws.read()
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				ch <- reply{Err: fmt.Errorf("devtools: connection lost: %w", err)}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m wireMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.pending[m.ID]; ch != nil {
				delete(b.pending, m.ID)
				r := reply{Result: m.Result}
				if m.Error != nil {
					r.Err = fmt.Errorf("devtools: %d %s", m.Error.Code, m.Error.Message)
				}
				ch <- r
			}
		} else if p := b.pages[m.SessionID]; p != nil {
			p.event(m.Method, m.Params)
		}
		b.mu.Unlock()
	}
}

// call sends a command (to the browser, or to a page's session) and
// waits for its result.
func (b *Browser) call(ctx context.Context, session, method string, params any, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("devtools: connection lost: %w", b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(wireMessage{ID: id, Method: method, Params: p, SessionID: session})
	if err != nil {
		return err
	}
	if err := b.ws.send(opText, msg); err != nil {
		return fmt.Errorf("devtools: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if result != nil {
			if err := json.Unmarshal(r.Result, result); err != nil {
				return fmt.Errorf("devtools: %s result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("devtools: %s: %w", method, ctx.Err())
	}
}

// Close asks the browser to quit, then ends its process group if it has
// not within a few seconds, and removes the profile.
func (b *Browser) Close() error {
	if b.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		cancel()
		b.ws.close()
	}
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		b.kill()
		<-exited
	}
	return os.RemoveAll(b.profile)
}

// kill ends the browser's process group (it was started with Setpgid, so
// the group ID is the browser's own PID).
func (b *Browser) kill() {
	if b.cmd.Process != nil {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
	if b.ws == nil {
		b.cmd.Wait()
		os.RemoveAll(b.profile)
	}
}

// Page is one tab, attached through a flat session.
type Page struct {
	b       *Browser
	session string

	mu     sync.Mutex
	errors []string
	loads  []chan struct{}
}

// NewPage opens a blank tab with the given viewport and enables the
// domains that report console messages, exceptions and log entries.
func (b *Browser) NewPage(ctx context.Context, width, height int) (*Page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: att.SessionID}
	b.mu.Lock()
	b.pages[p.session] = p
	b.mu.Unlock()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := b.call(ctx, p.session, m, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// event records what a page reports; called with b.mu held.
func (p *Page) event(method string, params json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch method {
	case "Page.loadEventFired":
		for _, ch := range p.loads {
			close(ch)
		}
		p.loads = nil
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &e) == nil && (e.Type == "error" || e.Type == "assert") {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, fmt.Sprint(a.Value))
				}
			}
			p.errors = append(p.errors, "console."+e.Type+": "+strings.Join(parts, " "))
		}
	case "Runtime.exceptionThrown":
		var e struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &e) == nil {
			p.errors = append(p.errors, "exception: "+strings.TrimSpace(e.Details.Text+" "+e.Details.Exception.Description))
		}
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		if json.Unmarshal(params, &e) == nil && e.Entry.Level == "error" {
			p.errors = append(p.errors, fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	}
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, url string) error {
	loaded := make(chan struct{})
	p.mu.Lock()
	p.loads = append(p.loads, loaded)
	p.mu.Unlock()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("devtools: navigate %s: %s", url, res.ErrorText)
	}
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devtools: waiting for %s to load: %w", url, ctx.Err())
	}
}

// Evaluate runs a JavaScript expression in the page and decodes its
// (JSON-serialisable) value into out. A thrown exception is an error.
func (p *Page) Evaluate(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("devtools: evaluate: %s", res.Exception.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Screenshot captures the viewport as PNG.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var res struct {
		Data string `json:"data"`
	}
	if err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return nil, fmt.Errorf("devtools: screenshot: %w", err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		return nil, errors.New("devtools: screenshot is not a PNG")
	}
	return png, nil
}

// Errors returns the console errors, uncaught exceptions and error log
// entries (e.g. failed resource loads) the page has reported so far.
// Call it after a round trip (Evaluate) so earlier events have arrived.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}
