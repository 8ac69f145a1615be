package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

// The view: groupings of a run's specs that every renderer shares, all
// sorted so output is byte-for-byte deterministic.

// group is the set of specs of one (profile, model, client, server): one
// cell of a matrix.
type group struct {
	Profile, Model, Client, Server string
	Specs                          []*results.Spec
	Counts                         map[results.Outcome]int
}

// worst is the outcome that colours the cell: anything unexpected first,
// then expected failures, passes, unsupported, skipped.
func (g *group) worst() results.Outcome {
	for _, o := range []results.Outcome{results.Fail, results.UnexpectedPass, results.ExpectedFail, results.Pass, results.Unsupported} {
		if g.Counts[o] > 0 {
			return o
		}
	}
	return results.Skipped
}

// matrix is one profile × model table: rows are client peers, columns
// server peers.
type matrix struct {
	Profile, Model   string
	Clients, Servers []string
	cells            map[[2]string]*group
}

func (m *matrix) cell(client, server string) *group { return m.cells[[2]string{client, server}] }

// view groups a run's specs.
type view struct {
	r        *results.Results
	specs    []*results.Spec // sorted by ID
	matrices []*matrix       // by profile, then model key
	groups   []*group        // by profile, model, client, server
	clients  []string        // every peer seen as client
	servers  []string        // every peer seen as server
}

func newView(r *results.Results) *view {
	v := &view{r: r}
	for i := range r.Specs {
		v.specs = append(v.specs, &r.Specs[i])
	}
	slices.SortFunc(v.specs, func(a, b *results.Spec) int { return strings.Compare(a.ID, b.ID) })
	byKey := map[[4]string]*group{}
	mats := map[[2]string]*matrix{}
	for _, s := range v.specs {
		k := [4]string{s.Profile, s.Model.Key(), s.Pair.Client, s.Pair.Server}
		g := byKey[k]
		if g == nil {
			g = &group{Profile: k[0], Model: k[1], Client: k[2], Server: k[3], Counts: map[results.Outcome]int{}}
			byKey[k] = g
			v.groups = append(v.groups, g)
		}
		g.Specs = append(g.Specs, s)
		g.Counts[s.Outcome]++
		mk := [2]string{k[0], k[1]}
		m := mats[mk]
		if m == nil {
			m = &matrix{Profile: k[0], Model: k[1], cells: map[[2]string]*group{}}
			mats[mk] = m
			v.matrices = append(v.matrices, m)
		}
		m.cells[[2]string{k[2], k[3]}] = g
		v.clients = addSorted(v.clients, k[2])
		v.servers = addSorted(v.servers, k[3])
	}
	slices.SortFunc(v.groups, func(a, b *group) int {
		return strings.Compare(a.Profile+"\x00"+a.Model+"\x00"+a.Client+"\x00"+a.Server,
			b.Profile+"\x00"+b.Model+"\x00"+b.Client+"\x00"+b.Server)
	})
	slices.SortFunc(v.matrices, func(a, b *matrix) int {
		return strings.Compare(a.Profile+"\x00"+a.Model, b.Profile+"\x00"+b.Model)
	})
	// Same axes in every matrix, so tables line up and a missing pair shows.
	for _, m := range v.matrices {
		m.Clients, m.Servers = v.clients, v.servers
	}
	return v
}

func addSorted(xs []string, x string) []string {
	i, found := slices.BinarySearch(xs, x)
	if found {
		return xs
	}
	return slices.Insert(xs, i, x)
}

// unexpected lists the specs that gate the run.
func (v *view) unexpected() []*results.Spec {
	var out []*results.Spec
	for _, s := range v.specs {
		if s.Outcome.Gates() {
			out = append(out, s)
		}
	}
	return out
}

func (v *view) withOutcome(o results.Outcome) []*results.Spec {
	var out []*results.Spec
	for _, s := range v.specs {
		if s.Outcome == o {
			out = append(out, s)
		}
	}
	return out
}

// anchor makes an HTML id from a name: a readable ASCII slug plus a short
// hash of the full name, so IDs with arrows or slashes stay unique and
// need no escaping in a fragment.
func anchor(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('-')
	dash := false
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	sum := sha256.Sum256([]byte(name))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:4]))
	return b.String()
}

func specAnchor(s *results.Spec) string { return anchor("spec", s.ID) }

func groupAnchor(g *group) string {
	return anchor("cell", g.Profile+"/"+g.Model+"/"+g.Client+"→"+g.Server)
}

func reqAnchor(id string) string { return anchor("req", id) }

// Requirement coverage per peer.

// reqStatus is what a peer's specs say about one requirement.
type reqStatus int

const (
	noSpec   reqStatus = iota // no spec checks this peer against it
	untested                  // only unsupported or skipped specs
	met                       // every spec that ran passed
	notMet                    // at least one spec failed (expected or not)
)

func (s reqStatus) String() string {
	return [...]string{"no spec", "untested", "met", "not met"}[s]
}

// coverageCell is one (requirement, peer) of the coverage table.
type coverageCell struct {
	Status reqStatus
	Specs  []*results.Spec // the specs that decided the status
}

// coverage maps requirement ID → peer → cell.
type coverage map[string]map[string]*coverageCell

// sidesFor says which sides of spec s a requirement is checked on: the
// side the requirement constrains when it names one, else the side(s)
// the spec checks.
func sidesFor(s *results.Spec, role requirements.Role) []results.Endpoint {
	switch role {
	case requirements.Client:
		return []results.Endpoint{results.ClientSide}
	case requirements.Server:
		return []results.Endpoint{results.ServerSide}
	}
	var out []results.Endpoint
	for _, e := range []results.Endpoint{results.ClientSide, results.ServerSide} {
		if s.Role.Checks(e) {
			out = append(out, e)
		}
	}
	return out
}

func (v *view) coverage(cat *requirements.Catalog) coverage {
	cov := coverage{}
	for _, s := range v.specs {
		for _, id := range s.Requirements {
			role := requirements.Any
			if req, ok := cat.ByID(id); ok {
				role = req.Role
			}
			for _, side := range sidesFor(s, role) {
				peer := s.Pair.Client
				if side == results.ServerSide {
					peer = s.Pair.Server
				}
				if cov[id] == nil {
					cov[id] = map[string]*coverageCell{}
				}
				c := cov[id][peer]
				if c == nil {
					c = &coverageCell{}
					cov[id][peer] = c
				}
				st := untested
				switch s.Outcome.Observed() {
				case results.Pass:
					st = met
				case results.Fail:
					st = notMet
				}
				// Keep the specs behind the strongest status: one
				// failure outweighs any number of passes.
				switch {
				case st > c.Status:
					c.Status, c.Specs = st, []*results.Spec{s}
				case st == c.Status:
					c.Specs = append(c.Specs, s)
				}
			}
		}
	}
	return cov
}

// coveredIDs lists every requirement ID the run's specs cite.
func (v *view) coveredIDs() []string {
	var ids []string
	for _, s := range v.specs {
		for _, id := range s.Requirements {
			ids = addSorted(ids, id)
		}
	}
	return ids
}

// peersOf lists the peers taking part in the run, sorted.
func (v *view) peers() []string {
	var out []string
	for _, p := range v.r.Peers {
		out = addSorted(out, p.Name)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
