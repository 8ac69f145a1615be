// Package profile selects an attested TLS profile by name. Each profile
// lives in its own package (ta07, ea07, poc): wire codecs plus the hooks
// that run them on the engine; adding a draft revision is a new package
// and one line here.
package profile

import (
	"fmt"
	"sort"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
)

var profiles = map[string]party.Profile{}

func register(p party.Profile) { profiles[p.Name()] = p }

func init() {
	register(ta07.Profile{})
	register(ea07.Profile{})
	register(poc.Profile{})
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
