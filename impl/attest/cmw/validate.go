package cmw

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
)

// checkMediaType is deliberately light: the draft points at the Content-Type
// ABNF; we require printable ASCII with a '/' so junk is refused without
// re-implementing RFC 9110 parameters.
func checkMediaType(s string) error {
	if s == "" || len(s) > 1024 {
		return fmt.Errorf("cmw: media type of length %d", len(s))
	}
	slash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("cmw: media type %q has a non-printable or non-ASCII byte", s)
		}
		slash = slash || c == '/'
	}
	if !slash || s[0] == '/' {
		return fmt.Errorf("cmw: %q is not a type/subtype media type", s)
	}
	return nil
}

var oidRE = regexp.MustCompile(`^[0-2](\.0|\.[1-9][0-9]*)*$`)

// checkCollectionType accepts an absolute OID or an absolute-form URI
// (RFC 3986 §4.3: a scheme, no fragment), as the draft requires of "__cmwc_t".
func checkCollectionType(s string) error {
	if oidRE.MatchString(s) {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Fragment != "" || bytes.ContainsAny([]byte(s), " \t\r\n") {
		return fmt.Errorf("cmw: collection type %q is neither an OID nor an absolute URI", s)
	}
	return nil
}
