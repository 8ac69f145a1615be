package parser

import (
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/impl/tls13"
)

func xp03Structures(t codepoint.Table) []structure {
	d := xp03.Profile{}.Describe()
	draft := d.Title
	ext := &Extension{Name: "cmw_attestation", Codepoint: int(t.XP03CMWAttestation)}
	record := cArray(cText(tpmMT), cBytes(str("parsec tpm evidence")))
	jsonRecord := str(`["` + tpmMT + `","` + b64(str("parsec tpm evidence")) + `"]`)
	entryCases := []tcase{
		valid("a CBOR CMW record of Evidence: what a background-check attester sends", v16(record), "Basic", "CMWRecord"),
		valid("a JSON CMW record", v16(jsonRecord), "CMWRecord"),
		valid("cmw_data of one byte, the lower bound of <1..2^16-1>: the struct holds it; that it is no CMW is the appraisal's business", v16(u8(0x82)), "ListBounds"),
		valid("cmw_data of 300 bytes: a length above 255", v16(rep(0x41, 300)), "ListBounds"),
		invalid("cmw_data of zero bytes, below <1..2^16-1>", v16(), decodeError, "ListBounds"),
		invalid("empty extension_data: no cmw_data length", nil, decodeError, "Truncated"),
		invalid("one byte: half a length", u8(0), decodeError, "Truncated"),
		invalid("cmw_data length beyond the data", drop(v16(record), 1), decodeError, "Truncated"),
		invalid("one byte after cmw_data", cat(v16(record), u8(0)), decodeError, "TrailingData"),
	}
	frame := func(typ eaframe.Type, body []byte) []byte { return cat(u8(int(typ)), v24(body)) }
	frameCases := []tcase{
		valid("attested: an empty body", frame(eaframe.Attested, nil), "Basic"),
		valid("application_data carrying ping", frame(eaframe.ApplicationData, str("ping\n")), "Basic"),
		valid("application_data with an empty body", frame(eaframe.ApplicationData, nil), "EmptyValue"),
		valid("authenticator_request carrying a CertificateRequest's bytes (the frame does not parse its body)", frame(eaframe.AuthenticatorRequest, cat(u8(13), v24(cat(v8(seq(32)), v16())))), "Basic"),
		valid("authenticator carrying a lone Finished (the empty authenticator)", frame(eaframe.Authenticator, cat(u8(20), v24(seq(32)))), "Basic"),
		invalid("frame type 0: undefined", frame(0, nil), tls13.AlertUnexpectedMessage, "UnknownType"),
		invalid("frame type 4: undefined", frame(4, nil), tls13.AlertUnexpectedMessage, "UnknownType"),
		invalid("frame type 22 (a TLS handshake record's type): undefined here", frame(22, nil), tls13.AlertUnexpectedMessage, "UnknownType"),
		invalid("frame type 255: undefined", frame(255, nil), tls13.AlertUnexpectedMessage, "UnknownType"),
		invalid("a body of 2^20+1 bytes declared: over the 1 MiB a reader takes", cat(u8(int(eaframe.Authenticator)), u24(eaframe.MaxBody+1)), decodeError, "ListBounds"),
		invalid("empty input: no frame type", nil, decodeError, "Truncated"),
		invalid("a type and half a length", cat(u8(int(eaframe.Attested)), u16(0)), decodeError, "Truncated"),
		invalid("body length beyond the data", drop(frame(eaframe.ApplicationData, str("ping\n")), 1), decodeError, "Truncated"),
		invalid("one byte after the frame", cat(frame(eaframe.Attested, nil), u8(0)), decodeError, "TrailingData"),
	}
	header := []string{
		"draft-fossati-seat-expat carries attestation after the handshake in RFC 9261 exported authenticators; the draft leaves their transport to the application.",
	}
	return []structure{
		{profile: xp03.Name, name: "cmw_attestation.certificate", algorithm: "xp-03 cmw_attestation in an authenticator's end-entity CertificateEntry", draft: draft,
			header: append(header, "Inputs are the extension_data of cmw_attestation in the first CertificateEntry of an exported authenticator's Certificate (§3): struct { opaque cmw_data<1..2^16-1>; }. In an authenticator request the extension is empty instead (§3.1)."),
			groups: []group{{typ: "ExtensionData", message: "certificate", ext: ext,
				comment: "cmw_data<1..2^16-1>",
				parse: func(b []byte) (any, error) {
					var x xp03.CMWAttestation
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					return map[string]any{"cmw_data": hexs(x.CMWData)}, nil
				}, cases: entryCases}}},
		cmwStructure(xp03.Name, "cmw", draft, d.Alerts.Rejected, ext,
			"xp-03 CMW as the cmw_data of cmw_attestation in an authenticator's end-entity CertificateEntry",
			append(header, "A relying party refuses an attestation it cannot unwrap with bad_certificate (catalog XP03-I-4).")),
		{profile: xp03.Name, name: "frame", algorithm: "the suite's post-handshake attestation frame (peers/CONTRACT.md)", draft: draft,
			header: append(header, "Inputs are one frame of the suite's framing on the TLS application stream (impl/attest/eaframe): struct { FrameType type; opaque body<0..2^24-1>; }, types authenticator_request(1), authenticator(2), attested(3), application_data(23).",
				"An undefined frame type is unexpected_message; a truncated frame or a body over 1 MiB decode_error. A reader of the stream takes the next frame from the bytes after one; as a vector an input is exactly one frame."),
			groups: []group{{typ: "Frame", message: "application_data",
				comment: "type(1) | length(3) | body",
				parse: func(b []byte) (any, error) {
					f, err := eaframe.Parse(b)
					if err != nil {
						return nil, err
					}
					return map[string]any{"type": f.Type.String(), "body": hexs(f.Body)}, nil
				}, cases: frameCases}}},
	}
}
