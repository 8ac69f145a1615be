package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/capture"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// A peer against itself: both sides driven, for every model it claims in
// both roles. The suite sits between them (a relay on the case network's
// gateway) and judges what it captured there, decrypted with the client's
// key log: a completed handshake both ways, the profile's attestation
// extensions in EncryptedExtensions, ping and pong, no alert but
// close_notify; and the server's key log holds the same secrets. The
// peer's own outcome lines are only cross-checked.

func init() { generators = append(generators, Selves) }

// SelfVariant names a peer-against-itself case.
const SelfVariant = "peer-vs-peer"

// Selves is the peer-against-itself case of c's model, carried by its
// server-role case when the manifest plays both roles.
func Selves(m *contract.Manifest, c Case) []Case {
	if c.PeerRole != contract.Server || !slices.Contains(m.Roles, contract.Client) {
		return nil
	}
	k := Case{Model: c.Model, PeerRole: contract.Server, Timeout: c.Timeout, Variant: SelfVariant, Kind: SelfVariant,
		Self: &selfServices{m: m}, Judge: expectSelf}
	k.It = "against itself, each side driven, completes the attested handshake through the suite's relay: the capture, decrypted with the client's key log, shows the profile's attestation extensions, ping and pong, and no alert"
	if !c.Model.Server.Attests && !c.Model.Client.Attests {
		k.It = "against itself, each side driven, completes a handshake without attestation through the suite's relay: the capture, decrypted with the client's key log, shows ping and pong, and no alert"
	}
	return []Case{k}
}

// selfServices say what a peer against itself gets: per attesting side a
// swtpm unless its manifest takes the software TPM, and one Veraison for
// both unless it takes the in-process verifier.
type selfServices struct {
	m *contract.Manifest
}

// runSelf runs the peer against itself.
func (e *Env) runSelf(ctx context.Context, c Case) (*Result, error) {
	start := time.Now()
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	tc := c.Model.ID()
	dir := filepath.Join(e.Out, "cases", unsafeChars.ReplaceAllString(c.name(), "_"), SelfVariant)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	res := &Result{Dir: dir, Dirs: map[contract.Role]string{
		contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}}
	scfg, ccfg, err := e.Inputs.Configs(inputs.Pair{TestCase: tc, Model: c.Model, Dirs: res.Dirs, Timeout: c.Timeout})
	if err != nil {
		return nil, err
	}
	k, err := e.Driver.NewCase(ctx, unsafeChars.ReplaceAllString(c.ID(), "_"))
	if err != nil {
		return nil, err
	}
	defer k.Close(context.WithoutCancel(ctx))
	svcCtx, stop := context.WithCancel(ctx)
	defer stop()
	provision, err := c.Self.start(svcCtx, k, &scfg, &ccfg)
	if err != nil {
		return nil, err
	}
	endorse := func(ctx context.Context, cfg contract.Config) error {
		if provision == nil || cfg.EndorsementsOut == "" {
			return nil
		}
		return waitEndorsement(ctx, cfg.EndorsementsOut, c.Timeout, provision)
	}
	spec := func(cfg contract.Config, other contract.Role) driver.Spec {
		return driver.Spec{Peer: e.Peer, Config: cfg, In: e.Inputs.Dir, PeerOut: res.Dirs[other], Root: e.Out, Env: e.peerEnv(c.PeerEnv), Deadline: c.Deadline}
	}
	srv, err := k.Start(ctx, spec(scfg, contract.Client))
	if err != nil {
		if srv == nil {
			return nil, err
		}
		res.Peer = srv.Wait(ctx)
		res.Took = time.Since(start)
		return res, nil
	}
	// A server attester wrote its endorsement before it listened.
	if err := endorse(ctx, scfg); err != nil {
		res.Peer = srv.Wait(ctx)
		res.Peer.Err = err
		return res, nil
	}
	res.Pcap = filepath.Join(dir, reference.PcapFile)
	relay, err := startRelay(ctx, k.HostAddress(), srv.Addr(), res.Pcap, func(ctx context.Context) error { return endorse(ctx, ccfg) })
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	ccfg.Connect = relay.Addr().String()
	cli, err := k.Start(ctx, spec(ccfg, contract.Server))
	if err != nil && cli == nil {
		return nil, err
	}
	res.Client = cli.Wait(ctx)
	res.Peer = srv.Wait(ctx)
	relay.Close()
	relay.wait()
	res.Took = time.Since(start)
	return res, nil
}

// start gives both sides their roots of trust and verifier; provision,
// if not nil, puts an attester's endorsement into their Veraison.
func (s *selfServices) start(ctx context.Context, k driver.Case, scfg, ccfg *contract.Config) (provision func(context.Context, parsectpm.Endorsement) error, err error) {
	m := s.m
	software := slices.Contains(m.TPMs, "software")
	for _, cfg := range []*contract.Config{scfg, ccfg} {
		if cfg.SelfAttests() == contract.AttestsNone || software {
			continue
		}
		if !slices.Contains(m.TPMs, "swtpm") {
			return nil, fmt.Errorf("peer %s attests only from TPMs %v; peer-against-itself cases provide software and swtpm", m.Name, m.TPMs)
		}
		if err := withSwtpm(ctx, k, cfg); err != nil {
			return nil, err
		}
	}
	calls := func(cfg *contract.Config) bool {
		return cfg.PeerAttests() == contract.AttestsBG || cfg.SelfAttests() == contract.AttestsPassport
	}
	if !calls(scfg) && !calls(ccfg) || slices.Contains(m.Verifiers, "local") {
		return nil, nil
	}
	if !slices.Contains(m.Verifiers, "veraison") {
		return nil, fmt.Errorf("peer %s appraises only through verifiers %v; peer-against-itself cases provide local and veraison", m.Name, m.Verifiers)
	}
	v, err := withVeraison(ctx, k, verifierUser{cfg: scfg}, verifierUser{cfg: ccfg})
	if err != nil {
		return nil, err
	}
	return v.Provision, nil
}

// relay is the suite between a peer and itself: a gateway that lets the
// client's one connection through to the server once ready returns (the
// client's endorsement is provisioned) and writes every record each way to
// a capture.
type relay struct {
	net.Listener
	done chan struct{}
}

func (r *relay) wait() { <-r.done }

// The capture's addresses: synthetic, as in every case folder's capture.
var (
	selfClientAddr = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 50000}
	selfServerAddr = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: driver.PeerPort}
)

func startRelay(ctx context.Context, host, server, pcap string, ready func(context.Context) error) (*relay, error) {
	f, err := os.Create(pcap)
	if err != nil {
		return nil, err
	}
	cw, err := capture.New(f, selfClientAddr, selfServerAddr, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	var mu sync.Mutex
	pipe := func(in, out net.Conn) {
		var wg sync.WaitGroup
		for _, d := range []struct {
			src, dst   net.Conn
			fromClient bool
		}{{in, out, true}, {out, in, false}} {
			wg.Go(func() {
				relayRecords(d.dst, d.src, func(rec []byte) {
					mu.Lock()
					defer mu.Unlock()
					cw.Record(d.fromClient, rec)
				})
			})
		}
		wg.Wait()
	}
	ln, ended, err := gateway(ctx, host, server, ready, pipe)
	if err != nil {
		cw.Close()
		f.Close()
		return nil, err
	}
	r := &relay{Listener: ln, done: make(chan struct{})}
	go func() {
		<-ended
		cw.Close()
		f.Close()
		close(r.done)
	}()
	return r, nil
}

// relayRecords copies src to dst until src ends, handing each whole TLS
// record to each, then passes the end on as a half-close (a close_notify
// followed by FIN reaches the other side as over one connection).
func relayRecords(dst, src net.Conn, each func(record []byte)) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			for len(pending) >= 5 {
				size := 5 + (int(pending[3])<<8 | int(pending[4]))
				if len(pending) < size {
					break
				}
				each(slices.Clone(pending[:size]))
				pending = pending[size:]
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if c, ok := dst.(interface{ CloseWrite() error }); ok {
		c.CloseWrite()
	}
}

// decrypted is what tshark shows of a capture decrypted with a key log:
// per packet, who sent it (client or server), its handshake message types,
// the extension types of its handshake messages, its alert descriptions
// and its application data.
type decrypted struct {
	fromClient bool
	handshake  []string
	extensions []string
	alerts     []string
	data       []byte
}

// tsharkDecrypt decodes pcap, decrypted with keylog ("" for none).
func tsharkDecrypt(ctx context.Context, pcap, keylog string) ([]decrypted, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Application data stays data: tshark's RDP heuristic would claim
	// some of it (a post-handshake authenticator frame, for one).
	args := []string{"-n", "-r", pcap, "--disable-protocol", "rdpmt", "-d", "tcp.port==" + strconv.Itoa(driver.PeerPort) + ",tls",
		"-Y", "tls", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "ip.src", "-e", "tls.handshake.type", "-e", "tls.handshake.extension.type", "-e", "tls.alert_message.desc", "-e", "data.data"}
	if keylog != "" {
		args = append([]string{"-o", "tls.keylog_file:" + keylog}, args...)
	}
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("tshark %s: %v %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr))
	}
	var ps []decrypted
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		for len(f) < 5 {
			f = append(f, "")
		}
		p := decrypted{fromClient: f[0] == selfClientAddr.IP.String(), handshake: split(f[1]), extensions: split(f[2]), alerts: split(f[3])}
		for _, h := range split(f[4]) {
			b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
			if err == nil {
				p.data = append(p.data, b...)
			}
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// expectFramed checks a post-handshake profile's application stream,
// each direction (by fromClient) split into frames: each relying party
// asked with an authenticator_request carrying the profile's extension,
// each attester answered with an authenticator whose end-entity entry
// carries it, both sent attested before any application_data. It returns
// the application data the frames carried.
func expectFramed(m party.Model, data map[bool][]byte, say func() string) map[bool][]byte {
	GinkgoHelper()
	var ext []uint16
	for _, e := range describe(m).Extensions {
		if e.InCertificate {
			ext = append(ext, e.Type)
		}
	}
	out := map[bool][]byte{}
	frames := map[bool]map[eaframe.Type][]eaframe.Frame{}
	for _, fromClient := range []bool{true, false} {
		who := map[bool]string{true: "client", false: "server"}[fromClient]
		frames[fromClient] = map[eaframe.Type][]eaframe.Frame{}
		attested := false
		for rest := data[fromClient]; len(rest) > 0; {
			f, next, err := eaframe.Next(rest)
			Expect(err).NotTo(HaveOccurred(), "the %s's application stream is not frames\n%s", who, say())
			rest = next
			frames[fromClient][f.Type] = append(frames[fromClient][f.Type], f)
			switch f.Type {
			case eaframe.Attested:
				attested = true
			case eaframe.ApplicationData:
				Expect(attested).To(BeTrue(), "the %s sent application data before attested\n%s", who, say())
				out[fromClient] = append(out[fromClient], f.Body...)
			}
		}
		Expect(frames[fromClient][eaframe.Attested]).To(HaveLen(1), "the %s's attested frames\n%s", who, say())
	}
	for _, attesterIsClient := range []bool{true, false} {
		if !m.Attesting(attesterIsClient).Attests {
			continue
		}
		reqs, auths := frames[!attesterIsClient][eaframe.AuthenticatorRequest], frames[attesterIsClient][eaframe.Authenticator]
		Expect(reqs).To(HaveLen(1), "the relying party's authenticator requests\n%s", say())
		Expect(auths).To(HaveLen(1), "the attester's authenticators\n%s", say())
		exts, err := tls13.AuthenticatorRequestExtensions(reqs[0].Body)
		Expect(err).NotTo(HaveOccurred())
		cert, err := wire.Leading(auths[0].Body).Certificate()
		Expect(err).NotTo(HaveOccurred(), "the authenticator does not start with a Certificate\n%s", say())
		Expect(cert.Entries).NotTo(BeEmpty())
		for _, typ := range ext {
			_, asked := tls13.FindExtension(exts, typ)
			Expect(asked).To(BeTrue(), "the request lacks extension %d\n%s", typ, say())
			_, carried := tls13.FindExtension(cert.Entries[0].Extensions, typ)
			Expect(carried).To(BeTrue(), "the authenticator's end-entity entry lacks extension %d\n%s", typ, say())
		}
	}
	return out
}

// postHandshake: m's attestation follows the handshake, in frames on
// the application stream.
func postHandshake(m party.Model) bool { return describe(m).Phase == party.PostHandshake }

// expectSelf judges a peer against itself from the relay's capture.
func expectSelf(c Case, r *Result) {
	GinkgoHelper()
	Expect(r.Peer).NotTo(BeNil())
	Expect(r.Client).NotTo(BeNil(), "the client never ran\n%s", r.Peer.Describe())
	describe := func() string { return r.Peer.Describe() + "\n" + r.Client.Describe() + "\ncase folder " + r.Dir }
	_, err := exec.LookPath("tshark")
	Expect(err).NotTo(HaveOccurred(), "tshark decodes the capture (make deps installs it)")
	ps, err := tsharkDecrypt(context.Background(), r.Pcap, filepath.Join(r.Dirs[contract.Client], inputs.KeyLogFile))
	Expect(err).NotTo(HaveOccurred())
	var finished = map[bool]int{}
	var data = map[bool][]byte{}
	var eeExts []string
	for _, p := range ps {
		for _, h := range p.handshake {
			if h == "20" {
				finished[p.fromClient]++
			}
			if (h == "8" || h == "13") && !p.fromClient { // EncryptedExtensions, CertificateRequest (ea-07's chosen_client_scheme)
				eeExts = append(eeExts, p.extensions...)
			}
		}
		for _, a := range p.alerts {
			Expect(a).To(Equal("0"), "a %s alert crossed (from the %s)\n%s", a, map[bool]string{true: "client", false: "server"}[p.fromClient], describe())
		}
		data[p.fromClient] = append(data[p.fromClient], p.data...)
	}
	Expect(finished[false]).To(Equal(1), "the server's Finished, decrypted with the client's key log, %d times\n%s", finished[false], describe())
	Expect(finished[true]).To(Equal(1), "the client's Finished, decrypted with the client's key log, %d times\n%s", finished[true], describe())
	for _, e := range firstFlight(c.Model) {
		Expect(eeExts).To(ContainElement(strconv.Itoa(int(e.Type))), "the server's EncryptedExtensions and CertificateRequest lack %s\n%s", e.Name, describe())
	}
	if postHandshake(c.Model) {
		data = expectFramed(c.Model, data, describe)
	}
	Expect(string(data[true])).To(Equal(reference.Ping), "the client's application data\n%s", describe())
	Expect(string(data[false])).To(Equal(reference.Pong), "the server's application data\n%s", describe())
	client := readKeyLog(filepath.Join(r.Dirs[contract.Client], inputs.KeyLogFile))
	server := readKeyLog(filepath.Join(r.Dirs[contract.Server], inputs.KeyLogFile))
	Expect(server).To(Equal(client), "the server's key log holds other secrets than the client's\n%s", describe())
	for _, p := range []*struct {
		role contract.Role
		res  interface{ Describe() string }
		exit int
		o    *contract.Outcome
	}{{contract.Server, r.Peer, r.Peer.Exit, r.Peer.Outcome}, {contract.Client, r.Client, r.Client.Exit, r.Client.Outcome}} {
		Expect(p.exit).To(Equal(contract.ExitOK), "the %s's exit code contradicts the wire (the connection completed)\n%s", p.role, describe())
		Expect(p.o).NotTo(BeNil(), "the %s printed no outcome line\n%s", p.role, describe())
		Expect(p.o.Handshake).To(Equal(contract.HandshakeOK), "the %s's outcome line contradicts the wire\n%s", p.role, describe())
		Expect(p.o.AppData).To(Equal(contract.AppDataOK), "the %s's outcome line contradicts the wire\n%s", p.role, describe())
	}
}
