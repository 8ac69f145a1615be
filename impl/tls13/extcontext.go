package tls13

import "strings"

// ExtensionContext is a set of the places an extension may appear: the
// columns of the RFC 8446 §4.2 table, with Certificate split into the
// first CertificateEntry and the others, since some extensions belong to
// the end-entity's entry alone.
type ExtensionContext uint16

const (
	InClientHello ExtensionContext = 1 << iota
	InServerHello
	InHelloRetryRequest
	InEncryptedExtensions
	InCertificateRequest
	InFirstCertificateEntry
	InOtherCertificateEntry
	InNewSessionTicket
	// The places of RFC 9261 exported authenticators, which travel at the
	// application layer after the handshake: an authenticator request
	// (CertificateRequest or ClientCertificateRequest) and the entries of
	// an authenticator's Certificate. An extension declared for a
	// handshake CertificateRequest or CertificateEntry is also allowed in
	// its authenticator counterpart (RFC 9261 §4, §5.2.1 reuse the
	// handshake's rules); one declared only here is refused in the
	// handshake.
	InAuthenticatorRequest
	InAuthenticatorFirstEntry
	InAuthenticatorOtherEntry
)

var extensionContextNames = []string{
	"ClientHello", "ServerHello", "HelloRetryRequest", "EncryptedExtensions",
	"CertificateRequest", "the first CertificateEntry", "a CertificateEntry other than the first",
	"NewSessionTicket", "an authenticator request", "an authenticator's first CertificateEntry",
	"an authenticator's CertificateEntry other than the first",
}

// String names the places in x, joined by " or ".
func (x ExtensionContext) String() string {
	var names []string
	for i, n := range extensionContextNames {
		if x&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "nowhere"
	}
	return strings.Join(names, " or ")
}

// checkExtensionContext applies Config.HookExtensions to the extensions
// of a message received at place where.
func (c *Config) checkExtensionContext(where ExtensionContext, exts []Extension) error {
	for _, e := range exts {
		if allowed, ok := c.HookExtensions[e.Type]; ok && allowed&where == 0 {
			return Alertf(AlertIllegalParameter, "extension %d is not allowed in %s (only in %s)", e.Type, where, allowed)
		}
	}
	return nil
}

// checkReceivedExtensions applies Config.HookExtensions to a message we
// received, before anything else looks at its extensions.
func (c *Config) checkReceivedExtensions(m handshakeMessage) error {
	if len(c.HookExtensions) == 0 {
		return nil
	}
	switch m := m.(type) {
	case *clientHelloMsg:
		return c.checkExtensionContext(InClientHello, m.exts)
	case *serverHelloMsg:
		if m.isHelloRetryRequest() {
			return c.checkExtensionContext(InHelloRetryRequest, m.exts)
		}
		return c.checkExtensionContext(InServerHello, m.exts)
	case *encryptedExtensionsMsg:
		return c.checkExtensionContext(InEncryptedExtensions, m.exts)
	case *certificateRequestMsg:
		return c.checkExtensionContext(InCertificateRequest, m.exts)
	case *certificateMsg:
		return c.checkEntryExtensions(m, InFirstCertificateEntry, InOtherCertificateEntry)
	case *newSessionTicketMsg:
		return c.checkExtensionContext(InNewSessionTicket, m.exts)
	}
	return nil
}

// checkEntryExtensions applies Config.HookExtensions to the entries of a
// Certificate: first (or other) is the place of the end-entity entry (or
// of the rest).
func (c *Config) checkEntryExtensions(m *certificateMsg, first, other ExtensionContext) error {
	for i, e := range m.entries {
		where := first
		if i > 0 {
			where = other
		}
		if err := c.checkExtensionContext(where, e.Extensions); err != nil {
			return err
		}
	}
	return nil
}

// checkAuthenticatorExtensions applies Config.HookExtensions to an
// authenticator's Certificate: each entry may carry what is declared for
// its handshake counterpart or for authenticators.
func (c *Config) checkAuthenticatorExtensions(m *certificateMsg) error {
	if len(c.HookExtensions) == 0 {
		return nil
	}
	return c.checkEntryExtensions(m, InFirstCertificateEntry|InAuthenticatorFirstEntry, InOtherCertificateEntry|InAuthenticatorOtherEntry)
}

// checkAuthenticatorRequestExtensions applies Config.HookExtensions to
// an authenticator request we answer.
func (c *Config) checkAuthenticatorRequestExtensions(exts []Extension) error {
	return c.checkExtensionContext(InCertificateRequest|InAuthenticatorRequest, exts)
}
