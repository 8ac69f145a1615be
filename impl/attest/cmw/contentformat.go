package cmw

import (
	"fmt"

	vcmw "github.com/veraison/cmw"
)

// contentFormats are the CoAP Content-Formats we know for media types the
// profiles meet. 50/60/61/18 from the IANA CoAP Content-Formats registry;
// 273–276 as IANA registered them for the CMW media types (their TN() tags
// 1668547091–1668547094 are the ones the CMW draft's §"RFC9277 CBOR Tags" lists).
var contentFormats = map[string]uint16{
	`application/json`:                         50,
	`application/cbor`:                         60,
	`application/cwt`:                          61,
	`application/cose; cose-type="cose-sign1"`: 18,
	`application/cmw+cbor`:                     273,
	`application/cmw+json`:                     274,
	`application/cmw+cose`:                     275,
	`application/cmw+jws`:                      276,
}

var mediaTypeOf = func() map[uint16]string {
	m := map[uint16]string{}
	for mt, cf := range contentFormats {
		m[cf] = mt
	}
	return m
}()

// ContentFormatOf returns the CoAP Content-Format of a media type this package
// knows, for wrapping as a CBOR tag.
func ContentFormatOf(mediaType string) (uint16, bool) {
	cf, ok := contentFormats[mediaType]
	return cf, ok
}

// TN is the CBOR tag number of Content-Format cf: RFC 9277 Appendix B,
// TN(cf) = 1668546817 + (cf/255)*256 + cf%255, defined for cf ≤ 65024. (It is
// not 1668546560+cf, the 2021 proposal RFC 9277 replaced.)
func TN(cf uint16) (uint64, error) {
	if cf > vcmw.CfMax {
		return 0, fmt.Errorf("cmw: content-format %d has no CBOR tag (RFC 9277 covers 0–%d)", cf, vcmw.CfMax)
	}
	return vcmw.TN(cf), nil
}

// CF inverts TN. Numbers inside [1668546817, 1668612095] whose low byte is
// 0x00 are not images of TN and are rejected (v0.1.1's CF maps them anyway).
func CF(tn uint64) (uint16, error) {
	cf, err := vcmw.CF(tn)
	if err != nil {
		return 0, err
	}
	if cf > vcmw.CfMax || vcmw.TN(cf) != tn {
		return 0, fmt.Errorf("TN %d is not the tag of any content-format", tn)
	}
	return cf, nil
}
