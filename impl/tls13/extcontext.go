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
)

var extensionContextNames = []string{
	"ClientHello", "ServerHello", "HelloRetryRequest", "EncryptedExtensions",
	"CertificateRequest", "the first CertificateEntry", "a CertificateEntry other than the first",
	"NewSessionTicket",
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
		for i, e := range m.entries {
			where := InFirstCertificateEntry
			if i > 0 {
				where = InOtherCertificateEntry
			}
			if err := c.checkExtensionContext(where, e.Extensions); err != nil {
				return err
			}
		}
	case *newSessionTicketMsg:
		return c.checkExtensionContext(InNewSessionTicket, m.exts)
	}
	return nil
}
