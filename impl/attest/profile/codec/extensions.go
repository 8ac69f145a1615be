package codec

import (
	"maps"

	"github.com/attested-tls/conformance/impl/tls13"
)

// Extension is one extension a profile defines: its name in the draft, its
// codepoint and the messages it may appear in. A profile's list of them is
// the one table both its hooks (through Declare) and the suite's negative
// specs read.
type Extension struct {
	Name    string
	Type    uint16
	Allowed tls13.ExtensionContext
}

// Declare returns declared, a tls13.Config.HookExtensions, with exts
// added, so the engine aborts with illegal_parameter when one of them arrives in a
// message it is not defined for (RFC 8446 §4.2). The map is a copy: configs
// derived from one base do not share it.
func Declare(declared map[uint16]tls13.ExtensionContext, exts []Extension) map[uint16]tls13.ExtensionContext {
	out := maps.Clone(declared)
	if out == nil {
		out = map[uint16]tls13.ExtensionContext{}
	}
	for _, e := range exts {
		out[e.Type] = e.Allowed
	}
	return out
}
