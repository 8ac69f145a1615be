package cmw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
)

func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func (d *decoder) jsonRecord(b []byte, path string) (*Message, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fail(ErrMalformed, path, "json-record: %v", err)
	}
	if len(a) != 2 && len(a) != 3 {
		return nil, fail(ErrMalformed, path, "json-record has %d elements, want 2 or 3", len(a))
	}
	m := &Message{Format: JSONRecord}
	if jsonKind(a[0]) != '"' {
		return nil, fail(ErrMalformed, path, "json-record type must be a media type string")
	}
	var mt string
	if err := json.Unmarshal(a[0], &mt); err != nil {
		return nil, fail(ErrMalformed, path, "json-record type: %v", err)
	}
	if err := checkMediaType(mt); err != nil {
		return nil, &Error{Kind: ErrMalformed, Path: path, Err: err}
	}
	m.Type = MediaType(mt)
	if jsonKind(a[1]) != '"' {
		return nil, fail(ErrMalformed, path, "json-record value must be a base64url string")
	}
	var v string
	if err := json.Unmarshal(a[1], &v); err != nil {
		return nil, fail(ErrMalformed, path, "json-record value: %v", err)
	}
	val, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, fail(ErrMalformed, path, "json-record value is not unpadded base64url: %v", err)
	}
	if len(val) == 0 {
		return nil, fail(ErrMalformed, path, "json-record value is empty")
	}
	m.Value = val
	if len(a) == 3 {
		var n json.Number
		if jsonKind(a[2]) == '"' || json.Unmarshal(a[2], &n) != nil {
			return nil, fail(ErrMalformed, path, "json-record ind is not a number")
		}
		ind, err := strconv.ParseUint(string(n), 10, 32)
		if err != nil || ind == 0 {
			return nil, fail(ErrMalformed, path, "json-record ind %s outside 1..2^32-1", n)
		}
		m.Indicator = Indicator(ind)
	}
	return m, nil
}

func (d *decoder) jsonCollection(b []byte, depth int, path string) (*Message, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fail(ErrMalformed, path, "json-collection is not an object")
	}
	m := &Message{Format: JSONCollection}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail(ErrMalformed, path, "json-collection: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fail(ErrMalformed, path, "json-collection key is not a string")
		}
		if seen[key] {
			return nil, fail(ErrMalformed, path, "label %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail(ErrMalformed, path, "json-collection value for %q: %v", key, err)
		}
		if key == collectionTypeKey {
			if jsonKind(raw) != '"' || json.Unmarshal(raw, &m.CollectionType) != nil {
				return nil, fail(ErrMalformed, path, "%s is not a string", collectionTypeKey)
			}
			if err := checkCollectionType(m.CollectionType); err != nil {
				return nil, &Error{Kind: ErrMalformed, Path: path, Err: err}
			}
			continue
		}
		l := TextLabel(key)
		sub := path + "[" + l.String() + "]"
		raw = bytes.TrimLeft(raw, " \t\r\n")
		f := Sniff(raw)
		if f != JSONRecord && f != JSONCollection {
			return nil, fail(ErrMalformed, sub, "a json-collection holds only JSON CMWs, found %v", f)
		}
		e, err := d.decode(raw, f, depth, sub)
		if err != nil {
			return nil, err
		}
		m.Entries = append(m.Entries, Entry{Label: l, Message: e})
		if d.lim.MaxEntries > 0 && len(m.Entries) > d.lim.MaxEntries {
			return nil, fail(ErrTooLarge, path, "more than %d entries", d.lim.MaxEntries)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fail(ErrMalformed, path, "json-collection is not closed")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(ErrMalformed, path, "trailing data after the json-collection")
	}
	return finishCollection(m, path)
}
