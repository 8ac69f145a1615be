package parser

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Hand-written CBOR, so that malformed and non-preferred encodings can be
// written as easily as good ones.

func cborHead(major byte, n int) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n < 1<<8:
		return []byte{m | 24, byte(n)}
	case n < 1<<16:
		return cat([]byte{m | 25}, u16(n))
	}
	return []byte{m | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func cUint(n int) []byte            { return cborHead(0, n) }
func cBytes(b []byte) []byte        { return cat(cborHead(2, len(b)), b) }
func cText(s string) []byte         { return cat(cborHead(3, len(s)), str(s)) }
func cArray(items ...[]byte) []byte { return cat(cborHead(4, len(items)), cat(items...)) }

// cMap takes key, value, key, value, ...
func cMap(kv ...[]byte) []byte { return cat(cborHead(5, len(kv)/2), cat(kv...)) }
func cTag(n int, content []byte) []byte {
	return cat([]byte{0xda, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, content)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

const earMT = `application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"`

// cmwCases are the same inputs for every profile; alert is what the
// profile sends for an attestation it cannot unwrap.
func cmwCases(alert tls13.AlertCode) []tcase {
	ev := str("parsec tpm evidence")
	jwt := str("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	tn, err := cmw.TN(cfCBOR)
	if err != nil {
		panic(err)
	}
	record := cArray(cText(tpmMT), cBytes(ev))
	nested := record
	for range 9 {
		nested = cMap(cText("n"), nested)
	}
	return []tcase{
		valid("CBOR record [media type, bstr]: what the reference implementation sends", record, "Basic", "CMWRecord"),
		valid("CBOR record with indicator 4 (evidence)", cArray(cText(tpmMT), cBytes(ev), cUint(4)), "CMWRecord"),
		valid("CBOR record with a content-format type", cArray(cUint(cfCBOR), cBytes(ev)), "CMWRecord"),
		valid("CBOR record of an EAR (the passport form)", cArray(cText(earMT), cBytes(jwt)), "Basic", "CMWRecord"),
		valid("CBOR record as an indefinite-length array", cat([]byte{0x9f}, cText(tpmMT), cBytes(ev), []byte{0xff}), "CMWRecord", "IndefiniteLength"),
		valid("JSON record [media type, base64url]", str(`["`+tpmMT+`","`+b64(ev)+`"]`), "Basic", "CMWRecord"),
		valid("JSON record with indicator 4", str(`["`+tpmMT+`","`+b64(ev)+`",4]`), "CMWRecord"),
		valid("JSON record with whitespace", str(`[ "`+tpmMT+`" , "`+b64(ev)+`" ]`), "CMWRecord", "UnusualValue"),
		valid("CBOR tag TN(60) over a bstr", cTag(int(tn), cBytes(ev)), "Basic", "CMWTag"),
		acceptable("CBOR collection holding one record", cMap(cText("evidence"), record), alert, "CMWCollection"),
		acceptable("CBOR collection with an integer label", cMap(cUint(1), record), alert, "CMWCollection"),
		acceptable("CBOR collection with a __cmwc_t URI", cMap(cText("__cmwc_t"), cText("tag:example.com,2026:bundle"), cText("evidence"), record), alert, "CMWCollection"),
		acceptable("JSON collection holding one record", str(`{"evidence":["`+tpmMT+`","`+b64(ev)+`"]}`), alert, "CMWCollection"),
		acceptable("CBOR record whose array head is not in preferred form (0x98 0x02)", cat([]byte{0x98, 0x02}, cText(tpmMT), cBytes(ev)), alert, "NonPreferredEncoding"),
		invalid("empty", nil, alert, "CMWMalformed"),
		invalid("first byte 0x00 starts no CMW", cat(u8(0), record), alert, "CMWMalformed"),
		invalid("CBOR record of one element", cArray(cText(tpmMT)), alert, "CMWMalformed"),
		invalid("CBOR record of four elements", cArray(cText(tpmMT), cBytes(ev), cUint(4), cUint(4)), alert, "CMWMalformed"),
		invalid("CBOR record with an empty value", cArray(cText(tpmMT), cBytes(nil)), alert, "CMWMalformed", "EmptyValue"),
		invalid("CBOR record whose value is a text string", cArray(cText(tpmMT), cText("evidence")), alert, "CMWMalformed"),
		invalid("CBOR record whose type is a byte string", cArray(cBytes(str(tpmMT)), cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR record whose media type has no '/'", cArray(cText("evidence"), cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR record whose media type holds a control character", cArray(cText("application/x\ny"), cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR record whose media type is not UTF-8", cArray(cat(cborHead(3, 14), str("application/"), []byte{0xc3, 0x28}), cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR record with indicator 0", cArray(cText(tpmMT), cBytes(ev), cUint(0)), alert, "CMWMalformed"),
		invalid("CBOR record with a content-format above 65535", cArray(cUint(65536), cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR record with a byte after it", cat(record, u8(0)), alert, "CMWMalformed", "TrailingData"),
		invalid("CBOR record cut by one byte", drop(record, 1), alert, "CMWMalformed", "Truncated"),
		invalid("JSON record with padded base64", str(`["`+tpmMT+`","`+base64.URLEncoding.EncodeToString(ev[:4])+`"]`), alert, "CMWMalformed"),
		invalid("JSON record with the standard base64 alphabet", str(`["`+tpmMT+`","`+base64.RawStdEncoding.EncodeToString([]byte{0xfb, 0xff})+`"]`), alert, "CMWMalformed"),
		invalid("JSON record whose type is a number", str(`[60,"`+b64(ev)+`"]`), alert, "CMWMalformed"),
		invalid("JSON record whose indicator is a string", str(`["`+tpmMT+`","`+b64(ev)+`","4"]`), alert, "CMWMalformed"),
		invalid("JSON record with a byte after it", str(`["`+tpmMT+`","`+b64(ev)+`"]x`), alert, "CMWMalformed", "TrailingData"),
		invalid("CBOR tag 1 in a 4-byte head: not a TN() of any content-format", cTag(1, cBytes(ev)), alert, "CMWMalformed"),
		invalid("CBOR tag TN(60) over a text string", cTag(int(tn), cText("evidence")), alert, "CMWMalformed"),
		invalid("empty CBOR collection", cMap(), alert, "CMWMalformed", "EmptyList"),
		invalid("CBOR collection holding only __cmwc_t", cMap(cText("__cmwc_t"), cText("tag:example.com,2026:bundle")), alert, "CMWMalformed", "EmptyList"),
		invalid("CBOR collection holding a JSON record (as a text string)", cMap(cText("evidence"), cText(`["`+tpmMT+`","`+b64(ev)+`"]`)), alert, "CMWMalformed"),
		invalid("CBOR collection with a label twice", cMap(cText("a"), record, cText("a"), record), alert, "CMWMalformed"),
		invalid("CBOR collection whose __cmwc_t is neither a URI nor an OID", cMap(cText("__cmwc_t"), cText("not a uri"), cText("evidence"), record), alert, "CMWMalformed"),
		invalid("JSON collection with a label twice", str(`{"a":["`+tpmMT+`","`+b64(ev)+`"],"a":["`+tpmMT+`","`+b64(ev)+`"]}`), alert, "CMWMalformed"),
		invalid("collections nested 9 deep (the limit is 8)", nested, alert, "CMWMalformed", "ListBounds"),
	}
}

func renderCMW(m *cmw.Message) map[string]any {
	out := map[string]any{"format": m.Format.String()}
	switch m.Format {
	case cmw.CBORCollection, cmw.JSONCollection:
		if m.CollectionType != "" {
			out["collection_type"] = m.CollectionType
		}
		var entries []any
		for _, e := range m.Entries {
			label := any(e.Label.Text)
			if e.Label.IsInt {
				label = e.Label.Int
			}
			entries = append(entries, map[string]any{"label": label, "cmw": renderCMW(e.Message)})
		}
		out["entries"] = entries
	default:
		if m.Type.IsContentFormat {
			out["content_format"] = int(m.Type.ContentFormat)
		} else {
			out["media_type"] = m.Type.MediaType
		}
		if m.Indicator != 0 {
			out["indicator"] = int(m.Indicator)
		}
		out["value"] = hexs(m.Value)
	}
	return out
}

// parseCMW judges a CMW the way a relying party does before appraisal
// (party.Appraise: present, a CMW, one record), mapping a rejection to the
// profile's alert. With no policy configured, Appraise stops right after
// those checks, which is how an accepted CMW shows.
func parseCMW(alert tls13.AlertCode) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := &party.Party{PeerTopology: party.BackgroundCheck}
		_, err := p.Appraise(ctx, b, attest.Challenge{})
		switch attest.ReasonOf(err) {
		case party.ReasonVerifierFailed:
		case party.ReasonMalformedPayload, party.ReasonMissingPayload, party.ReasonPayloadType:
			return nil, tls13.Alertf(alert, "%v", err)
		default:
			return nil, fmt.Errorf("unexpected appraisal outcome: %v", err)
		}
		m, err := cmw.Unwrap(b)
		if err != nil {
			return nil, err
		}
		return renderCMW(m), nil
	}
}

func cmwStructure(profile, name, draft string, alert tls13.AlertCode, ext *Extension, algorithm string, header []string) structure {
	return structure{profile: profile, name: name, algorithm: algorithm, draft: draft,
		header: slices.Concat([]string{"Inputs are CMWs (draft-ietf-rats-msg-wrap) exactly as the profile carries them; the value inside is not appraised here."}, header),
		groups: []group{{typ: "CMW", message: "certificate", ext: ext,
			comment: "A CMW record, tag or collection, well-formed or not, where the profile expects one attestation",
			parse:   parseCMW(alert), cases: cmwCases(alert)}}}
}
