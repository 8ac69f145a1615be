// Package serve is `conformance serve`: a long-running set of reference
// endpoints for interop events. One listening address serves every case
// of the reference with the visitor as client, the case chosen by the
// server name (SNI) the visitor sends; serve dials a visitor's server for
// the cases with the visitor as server. Each connection is played by the
// reference peer (peers/reference) and judged as `conformance run` judges
// a pair case (suite/interop's wire judge and the profile's wire checks);
// the verdicts go to an append-only journal, a live results page and
// results.json in the results schema.
package serve

import (
	"errors"
	"fmt"
	"strings"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/suite/specs"
)

// DefaultDomain is the DNS suffix under which every case has its name.
const DefaultDomain = "cases.attested.test"

// VisitorSep separates a visitor's name from the case name in the first
// label of a server name: "mbedtls--ta-07.server-attests.bg-x509.cases.…".
const VisitorSep = "--"

// Entry is one case a visitor can play against serve.
type Entry struct {
	// Name is the case's server name: its labels, then the domain.
	Name string `json:"name"`
	// ID is the case ID as `conformance run` names it: the model ID and,
	// for a negative case, "/rejects-<misbehaviour>".
	ID string `json:"id"`
	// VisitorRole is the role the visitor plays: client cases are
	// reached on the TLS address, server cases through dial-out.
	VisitorRole contract.Role `json:"visitor_role"`
	Profile     string        `json:"profile"`
	Model       string        `json:"model"`
	// Misbehaviour is what the reference does wrong ("" for none);
	// Expect what the visitor must do: "complete", or "abort with
	// <alert>"; It says it in the drafts' words.
	Misbehaviour string `json:"misbehaviour,omitempty"`
	Expect       string `json:"expect"`
	It           string `json:"it,omitempty"`

	c    interop.Case
	reqs []string
}

// InteractionModel is the case's model.
func (e Entry) InteractionModel() party.Model { return e.c.Model }

// describe says what the visitor must do.
func (e Entry) describe() string {
	if e.It != "" {
		return e.It
	}
	return "completes the attested handshake, application data flows, and the wire carries the profile's attestation"
}

// count is how many cases have the visitor in role.
func (t *Table) count(role contract.Role) int {
	n := 0
	for _, e := range t.Entries {
		if e.VisitorRole == role {
			n++
		}
	}
	return n
}

// Table is every case serve offers, by server name and visitor role.
type Table struct {
	Domain  string
	Entries []Entry
	byName  map[string][]int
}

// visitorManifest is what serve lets a visitor play: every registered
// profile and model, both roles, and the services serve runs in process
// (a software root of trust, the local verifier).
func visitorManifest() *contract.Manifest {
	return &contract.Manifest{Name: "visitor", Contract: contract.Version,
		Profiles:      profile.Names(),
		Roles:         []contract.Role{contract.Client, contract.Server},
		Topologies:    []string{party.BackgroundCheck.String(), party.Passport.String()},
		Credentials:   []string{party.X509.String(), party.AttestationOnly.String()},
		TPMs:          []string{"software"},
		Verifiers:     []string{"local"},
		Misbehaviours: contract.Misbehaviours}
}

// NewTable derives the cases from the profile registry (every model of
// every profile, as interop.Matrix lists them) and the reference's
// misbehaviours (interop.Negatives: the negative battery `conformance
// run` gives every peer).
func NewTable(domain string) (*Table, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	t := &Table{Domain: domain, byName: map[string][]int{}}
	// A model's positive case checks the requirements of its in-process
	// case, as in `conformance run`; a negative its own.
	reqs := map[string][]string{}
	for _, c := range specs.Cases() {
		reqs[c.Model.ID()] = c.Reqs
	}
	m := visitorManifest()
	for _, pos := range interop.Matrix(m, false) {
		pos.Reqs = reqs[pos.Model.ID()]
		for _, c := range append([]interop.Case{pos}, interop.Negatives(m, pos)...) {
			if err := t.add(c); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (t *Table) add(c interop.Case) error {
	id := c.Model.ID()
	if c.Variant != "" {
		id += "/" + c.Variant
	}
	labels := Labels(id)
	name := labels + "." + t.Domain
	if len(name) > 253 {
		return fmt.Errorf("serve: case %s: server name %q is longer than 253 bytes", id, name)
	}
	for _, l := range strings.Split(labels, ".") {
		if len(l) == 0 || len(l) > 63 {
			return fmt.Errorf("serve: case %s: label %q is not 1 to 63 bytes", id, l)
		}
	}
	if strings.Contains(strings.SplitN(labels, ".", 2)[0], VisitorSep) {
		return fmt.Errorf("serve: case %s: its first label holds %q, which separates a visitor's name", id, VisitorSep)
	}
	e := Entry{Name: name, ID: id, VisitorRole: c.PeerRole, Profile: c.Model.Profile, Model: c.Model.ID(),
		Misbehaviour: c.Misbehave[c.PeerRole.Other()], Expect: "complete", It: c.It, c: c, reqs: c.Reqs}
	if c.Negative != nil {
		e.Expect = "abort with " + c.Negative.Alert.String()
	}
	for _, i := range t.byName[name] {
		if t.Entries[i].VisitorRole == e.VisitorRole {
			return fmt.Errorf("serve: cases %s and %s have the same server name %s", t.Entries[i].ID, id, name)
		}
	}
	t.byName[name] = append(t.byName[name], len(t.Entries))
	t.Entries = append(t.Entries, e)
	return nil
}

// Labels maps a case ID to DNS labels: lower case, "/" and "," separate
// labels, "+" and "=" become "-". "ta-07/mutual/server=bg+x509,client=
// passport+x509/rejects-corrupt-finished" is "ta-07.mutual.server-bg-x509
// .client-passport-x509.rejects-corrupt-finished".
func Labels(id string) string {
	return strings.NewReplacer("/", ".", ",", ".", "+", "-", "=", "-").Replace(strings.ToLower(id))
}

// Lookup finds the case a server name (without a visitor prefix) names
// for a visitor in role.
func (t *Table) Lookup(name string, role contract.Role) (Entry, bool) {
	for _, i := range t.byName[strings.ToLower(name)] {
		if t.Entries[i].VisitorRole == role {
			return t.Entries[i], true
		}
	}
	return Entry{}, false
}

// Find finds a case by its server name or its ID for a visitor in role.
func (t *Table) Find(nameOrID string, role contract.Role) (Entry, bool) {
	if e, ok := t.Lookup(nameOrID, role); ok {
		return e, true
	}
	if e, ok := t.Lookup(Labels(nameOrID)+"."+t.Domain, role); ok {
		return e, true
	}
	return Entry{}, false
}

// Errors of ParseServerName.
var (
	ErrNoServerName = errors.New("no server name")
	ErrOtherDomain  = errors.New("server name outside the cases' domain")
)

// ParseServerName splits a server name sent by a visitor into the
// visitor's name ("" if it sent none) and the case's server name:
// "[<visitor>--]<case labels>.<domain>", case-insensitive. It checks the
// syntax only; Lookup says whether the case exists.
func ParseServerName(sni, domain string) (visitor, name string, err error) {
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
	if sni == "" {
		return "", "", ErrNoServerName
	}
	if len(sni) > 253 {
		return "", "", fmt.Errorf("server name of %d bytes: at most 253", len(sni))
	}
	labels, ok := strings.CutSuffix(sni, "."+domain)
	if !ok || labels == "" {
		return "", "", fmt.Errorf("%w: %q is not <case>.%s", ErrOtherDomain, sni, domain)
	}
	for _, l := range strings.Split(labels, ".") {
		if !validLabel(l) {
			return "", "", fmt.Errorf("server name %q: bad label %q", sni, l)
		}
	}
	first, rest, _ := strings.Cut(labels, ".")
	if v, c, ok := strings.Cut(first, VisitorSep); ok {
		if !validLabel(v) || !validLabel(c) || strings.Contains(c, VisitorSep) {
			return "", "", fmt.Errorf("server name %q: want <visitor>%s<case> in its first label, once", sni, VisitorSep)
		}
		visitor, first = v, c
	}
	name = first
	if rest != "" {
		name += "." + rest
	}
	return visitor, name + "." + domain, nil
}

// validLabel: 1 to 63 of [a-z0-9-], not starting or ending with "-".
func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	return !strings.ContainsFunc(l, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') })
}

func checkDomain(d string) error {
	ok := d != "" && len(d) <= 200
	for _, l := range strings.Split(d, ".") {
		ok = ok && validLabel(l)
	}
	if !ok {
		return fmt.Errorf("serve: domain %q: want DNS labels of [a-z0-9-], at most 200 bytes", d)
	}
	return nil
}
