// Package profile selects an attested TLS profile by name and lists what
// each states about itself. Each profile lives in its own package (ta07,
// ea07, poc): wire codecs, the hooks that run them on the engine, and its
// party.Descriptor; adding a draft revision is a new package and one line
// in init.
package profile

import (
	"fmt"
	"sort"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
)

var (
	profiles = map[string]party.Profile{}
	order    []party.Profile // registration order: the order of every matrix
)

func register(p party.Profile) {
	if p.Describe().Name != p.Name() {
		panic("profile: " + p.Name() + " describes itself as " + p.Describe().Name)
	}
	profiles[p.Name()] = p
	order = append(order, p)
}

func init() {
	register(ta07.Profile{})
	register(ea07.Profile{})
	register(poc.Profile{})
	register(xp03.Profile{})
}

// ByName returns the profile called name.
func ByName(name string) (party.Profile, error) {
	p, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (known: %v)", name, Names())
	}
	return p, nil
}

// Names lists the known profiles, sorted.
func Names() []string {
	var out []string
	for n := range profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All describes every profile, in registration order.
func All() []party.Descriptor {
	out := make([]party.Descriptor, len(order))
	for i, p := range order {
		out[i] = p.Describe()
	}
	return out
}

// Describe describes the profile called name.
func Describe(name string) (party.Descriptor, error) {
	p, err := ByName(name)
	if err != nil {
		return party.Descriptor{}, err
	}
	return p.Describe(), nil
}

// MustDescribe describes the profile called name, which must be one of
// All's: for callers holding a name the registry gave them.
func MustDescribe(name string) party.Descriptor {
	d, err := Describe(name)
	if err != nil {
		panic(err)
	}
	return d
}

// Models lists every interaction model of every profile, in the order of
// All and of each profile's Models.
func Models() []party.Model {
	var out []party.Model
	for _, d := range All() {
		out = append(out, d.Models()...)
	}
	return out
}

// FirstDefining is m in the first profile (in registration order) that
// defines it, whatever m's Profile: for attacks that borrow a model the
// attacked profile lacks (a passport for a profile without one).
func FirstDefining(m party.Model) (party.Model, error) {
	for _, d := range All() {
		m.Profile = d.Name
		if d.Defines(m) {
			return m, nil
		}
	}
	return party.Model{}, fmt.Errorf("no profile defines %s", m.ID())
}
