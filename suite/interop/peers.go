package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
)

// PeerDir is a peer's folder: peers/<name>/ of this module or a vendor's
// own folder, holding manifest.json and expected.json (its baseline).
type PeerDir struct {
	Dir          string
	Manifest     *contract.Manifest
	Expected     *contract.Expected
	ExpectedPath string
}

// Name is the manifest's name.
func (p *PeerDir) Name() string { return p.Manifest.Name }

// LoadPeer reads a peer folder: nameOrDir is a folder (it contains a path
// separator or names an existing folder) or the name of one under the
// module's peers/. A missing expected.json is an empty baseline.
func LoadPeer(ctx context.Context, nameOrDir string) (*PeerDir, error) {
	dir := nameOrDir
	if st, err := os.Stat(dir); !strings.ContainsRune(dir, os.PathSeparator) && (err != nil || !st.IsDir()) {
		root, err := images.ModuleRoot(ctx)
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "peers", nameOrDir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w (peers are folders with manifest.json; see `conformance peers`)", nameOrDir, err)
	}
	m, err := contract.ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", nameOrDir, err)
	}
	p := &PeerDir{Dir: dir, Manifest: m, ExpectedPath: filepath.Join(dir, "expected.json"), Expected: &contract.Expected{}}
	eb, err := os.ReadFile(p.ExpectedPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("peer %s: %w", nameOrDir, err)
	default:
		if p.Expected, err = contract.ParseExpected(eb); err != nil {
			return nil, fmt.Errorf("peer %s: %s: %w", nameOrDir, p.ExpectedPath, err)
		}
	}
	return p, nil
}

// Recipes are the images this module builds, by the repository a
// manifest's "image" names: such a peer's image is built (or found by its
// content tag) before its first case. Any other image must already be on
// the engine (a vendor's `docker build -t`). A new peer built here adds
// its recipe (containers/images) to this list.
var Recipes = []images.Recipe{images.ReferencePeer, images.MbedTLSPeer}

// NewEnv prepares peer p under drv: its image on the engine (containers)
// or its command (processes), and the run's inputs under out.
func NewEnv(ctx context.Context, drv driver.Driver, p *PeerDir, out string, logf driver.Logf) (*Env, error) {
	m := p.Manifest
	e := &Env{Driver: drv, Manifest: m, Out: out, Peer: driver.Peer{Name: m.Name, Command: m.Command}}
	switch cd, ok := drv.(*driver.ContainerDriver); {
	case ok && m.Image == "":
		return nil, fmt.Errorf("peer %s has no image in its manifest: run it with processes (--driver processes)", m.Name)
	case ok:
		i := slices.IndexFunc(Recipes, func(r images.Recipe) bool { return r.Repository == m.Image })
		if i < 0 {
			res, err := cd.Client().ImageInspect(ctx, m.Image)
			if err != nil {
				return nil, fmt.Errorf("peer %s: image %s is not on the engine and no recipe here builds it (build it with docker build -t %s): %w",
					m.Name, m.Image, m.Image, err)
			}
			e.Image, e.ImageID = images.Image{Ref: m.Image, Cached: true}, res.ID
			logf("peers: %s: image %s (%s, found on the engine)", m.Name, m.Image, res.ID)
			break
		}
		img, err := images.Ensure(ctx, cd.Client(), Recipes[i], cd.Arch())
		if err != nil {
			return nil, err
		}
		// Another run on the same engine may prune this tag mid-run (its
		// sources differ); a case finding it gone imports it again.
		recipe := Recipes[i]
		e.refresh = func(ctx context.Context) error {
			if _, err := cd.Client().ImageInspect(ctx, img.Ref); err == nil {
				return nil
			}
			again, err := images.Ensure(ctx, cd.Client(), recipe, cd.Arch())
			if err == nil {
				logf("peers: %s: image %s was removed during the run; imported again in %v", m.Name, again.Ref, again.Took.Round(time.Millisecond))
			}
			return err
		}
		e.Image = img
		// Older tags are left alone: another run on the same engine (a
		// checkout at another commit) may be using them. Setup, for the
		// tests, prunes.
		state := "built"
		if img.Cached {
			state = "cached"
		}
		if res, err := cd.Client().ImageInspect(ctx, img.Ref); err == nil {
			e.ImageID = res.ID
		}
		logf("peers: %s: image %s (%s in %v)", m.Name, img.Ref, state, img.Took.Round(time.Millisecond))
	case len(m.Command) == 0:
		return nil, fmt.Errorf("peer %s has no command in its manifest: it runs only in containers", m.Name)
	}
	e.Peer.Image = e.Image.Ref
	var err error
	if e.Inputs, err = inputs.Prepare(filepath.Join(out, "inputs")); err != nil {
		return nil, err
	}
	return e, nil
}

// Probe runs the contract's compliance probe against the peer and checks
// its answer agrees with the manifest: exit 127 with an outcome line of
// the manifest's contract version, and nothing else.
func (e *Env) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	k, err := e.Driver.NewCase(ctx, "probe")
	if err != nil {
		return err
	}
	defer k.Close(context.WithoutCancel(ctx))
	dir := filepath.Join(e.Out, "cases", "probe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := contract.Config{Role: contract.Client, Profile: "ta-07", Connect: "127.0.0.1:9", ServerName: inputs.ServerName,
		ClientAttests: contract.AttestsNone, ServerAttests: contract.AttestsNone, Out: dir, Timeout: 5 * time.Second}
	res, err := driver.Probe(ctx, k, driver.Spec{Peer: e.Peer, Config: cfg, In: e.Inputs.Dir, Root: e.Out, Env: e.peerEnv(nil)})
	if err != nil {
		if res != nil {
			return fmt.Errorf("peer %s: %w\n%s", e.Manifest.Name, err, res.Describe())
		}
		return fmt.Errorf("peer %s: the compliance probe: %w", e.Manifest.Name, err)
	}
	switch {
	case res.Outcome == nil:
		return fmt.Errorf("peer %s: the compliance probe: exit 127 but no outcome line (%v)", e.Manifest.Name, res.OutcomeErr)
	case res.Outcome.Contract != e.Manifest.Contract:
		return fmt.Errorf("peer %s: the compliance probe answers contract %d, its manifest claims contract %d", e.Manifest.Name, res.Outcome.Contract, e.Manifest.Contract)
	}
	return nil
}

// Models lists every interaction model of every profile, in the order of
// suite/specs' matrix (both come from the profiles' descriptors).
func Models() []party.Model { return profile.Models() }

// PairTimeout is a pair case's ATLS_TIMEOUT: generous, because on a
// loaded 2-core machine a container has been seen to take over 15 s to
// start, and a passing case does not wait for it.
const PairTimeout = 30 * time.Second

// Matrix is every case a manifest claims: each model of each profile it
// lists, in each role it plays, when every attesting side's topology and
// credential are in its lists. With real, the peer attests from a swtpm
// and both sides appraise and get passports through one Veraison
// wherever the peer's manifest lists them (withServices).
func Matrix(m *contract.Manifest, real bool) []Case {
	var out []Case
	for _, model := range Models() {
		if !claims(m, model) {
			continue
		}
		for _, role := range []contract.Role{contract.Server, contract.Client} {
			if slices.Contains(m.Roles, role) {
				out = append(out, withServices(m, Case{Model: model, PeerRole: role, Timeout: PairTimeout}, real))
			}
		}
	}
	return out
}

// Unclaimed is every case of the full matrix a manifest does not claim
// (another profile, topology, credential or role): each runs with no
// services, and the peer is to exit 127, so the report shows the peer's
// whole matrix with its unsupported cells and their baseline reasons.
func Unclaimed(m *contract.Manifest) []Case {
	var out []Case
	for _, model := range Models() {
		claimed := claims(m, model)
		for _, role := range []contract.Role{contract.Server, contract.Client} {
			if !claimed || !slices.Contains(m.Roles, role) {
				out = append(out, Case{Model: model, PeerRole: role, Timeout: PairTimeout, Unclaimed: true})
			}
		}
	}
	return out
}

// claims reports whether the manifest lists the model's profile and each
// attesting side's topology and credential.
func claims(m *contract.Manifest, model party.Model) bool {
	return slices.Contains(m.Profiles, model.Profile) && supportsSide(m, model.Server) && supportsSide(m, model.Client)
}

func supportsSide(m *contract.Manifest, s party.Side) bool {
	return !s.Attests || slices.Contains(m.Topologies, s.Topology.String()) && slices.Contains(m.Credentials, s.Credential.String())
}

// withSwtpm gives the side cfg configures a swtpm of its own, for as long
// as ctx (the case's services) lasts.
func withSwtpm(ctx context.Context, k driver.Case, cfg *contract.Config) error {
	sw, err := driver.StartSwtpm(ctx, k)
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { sw.Stop(context.Background()) })
	cfg.TPM = "swtpm:" + sw.Addr
	return nil
}

// verifierUser is a side that uses the case's Veraison: a peer on the
// case network, or the in-process reference from the host.
type verifierUser struct {
	cfg      *contract.Config
	fromHost bool
}

// withVeraison attaches one of the run's Veraison deployments to the case
// for as long as ctx lasts and points each user at it, trusting only its
// EAR key; endorsements go to it, not through files.
func withVeraison(ctx context.Context, k driver.Case, users ...verifierUser) (*driver.Veraison, error) {
	v, err := driver.AttachVeraison(ctx, k, driver.VeraisonOptions{})
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { v.Stop(context.Background()) })
	tv, err := v.TrustedVerifiers()
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		url := v.PeerVerificationURL
		if u.fromHost {
			url = v.VerificationURL
		}
		path := filepath.Join(u.cfg.Out, "veraison-trusted-verifiers.json")
		if err := os.WriteFile(path, tv, 0o644); err != nil {
			return nil, err
		}
		u.cfg.Verifier, u.cfg.VerifierKey, u.cfg.TrustedVerifiers, u.cfg.Endorsements = "veraison:"+url, "", path, ""
	}
	return v, nil
}

// withServices gives a case what the peer's manifest needs beyond the
// defaults (software TPM; the in-process verifier and its key), or, with
// real, what it lists: a swtpm of its own for each side that attests
// (driver.StartSwtpm, which the peer reaches from the case network), and
// one Veraison attached to it (one of the run's, serving this case alone
// while it runs: driver.AttachVeraison) that every verifier role of the
// case uses, on both sides: the relying party that appraises background-check
// evidence and the passport attester that asks for its result. Each side
// then trusts only that Veraison's key, so a result from anywhere else
// fails the case. The suite provisions Veraison with each attester's
// endorsement before it can be appraised (Case.Endorse for the peer's,
// Case.ProvisionReference for the in-process reference's).
func withServices(m *contract.Manifest, c Case, real bool) Case {
	c.real = real
	peerSide, refSide := c.Model.Server, c.Model.Client
	if c.PeerRole == contract.Client {
		peerSide, refSide = refSide, peerSide
	}
	// The peer calls a verifier when it appraises background-check
	// evidence or attests with a passport (its result's source).
	peerCalls := refSide.Attests && refSide.Topology == party.BackgroundCheck ||
		peerSide.Attests && peerSide.Topology == party.Passport
	swtpm := peerSide.Attests && (!slices.Contains(m.TPMs, "software") || real && slices.Contains(m.TPMs, "swtpm"))
	if swtpm && !slices.Contains(m.TPMs, "swtpm") {
		c.Unrunnable = fmt.Sprintf("peer %s attests only from TPMs %v; pair specs provide software and swtpm", m.Name, m.TPMs)
		return c
	}
	veraison := peerCalls && !slices.Contains(m.Verifiers, "local") ||
		real && slices.Contains(m.Verifiers, "veraison") && (peerSide.Attests || refSide.Attests)
	if veraison && !slices.Contains(m.Verifiers, "veraison") {
		c.Unrunnable = fmt.Sprintf("peer %s appraises only through verifiers %v; pair specs provide local and veraison", m.Name, m.Verifiers)
		return c
	}
	// The in-process reference attests from a swtpm of its own too.
	refSwtpm := real && refSide.Attests
	if !swtpm && !veraison && !refSwtpm {
		return c
	}
	var v *driver.Veraison // this case's; each case runs once per run
	c.Services = func(ctx context.Context, k driver.Case, peer, ref *contract.Config) error {
		for _, t := range []struct {
			on  bool
			cfg *contract.Config
		}{{swtpm, peer}, {refSwtpm, ref}} {
			if t.on {
				if err := withSwtpm(ctx, k, t.cfg); err != nil {
					return err
				}
			}
		}
		if !veraison {
			return nil
		}
		var err error
		v, err = withVeraison(ctx, k, verifierUser{cfg: peer}, verifierUser{cfg: ref, fromHost: true})
		return err
	}
	provision := func(ctx context.Context, e parsectpm.Endorsement) error { return v.Provision(ctx, e) }
	if veraison && peerSide.Attests {
		c.Endorse = provision
	}
	if veraison && refSide.Attests {
		c.ProvisionReference = provision
	}
	return c
}
