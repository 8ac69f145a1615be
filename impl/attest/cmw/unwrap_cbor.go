package cmw

import (
	"math"

	"github.com/fxamacker/cbor/v2"
)

var cborStrict = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

func majorType(raw []byte) byte {
	if len(raw) == 0 {
		return 0xff
	}
	return raw[0] >> 5
}

const (
	cborUint  = 0
	cborBytes = 2
	cborText  = 3
)

func (d *decoder) cborRecord(b []byte, path string) (*Message, error) {
	var a []cbor.RawMessage
	if err := cborStrict.Unmarshal(b, &a); err != nil {
		return nil, fail(ErrMalformed, path, "cbor-record: %v", err)
	}
	if len(a) != 2 && len(a) != 3 {
		return nil, fail(ErrMalformed, path, "cbor-record has %d elements, want 2 or 3", len(a))
	}
	m := &Message{Format: CBORRecord}
	switch majorType(a[0]) {
	case cborUint:
		var cf uint64
		if err := cborStrict.Unmarshal(a[0], &cf); err != nil || cf > math.MaxUint16 {
			return nil, fail(ErrMalformed, path, "cbor-record type is not a uint16 content-format")
		}
		m.Type = ContentFormat(uint16(cf))
	case cborText:
		var mt string
		if err := cborStrict.Unmarshal(a[0], &mt); err != nil {
			return nil, fail(ErrMalformed, path, "cbor-record type: %v", err)
		}
		if err := checkMediaType(mt); err != nil {
			return nil, &Error{Kind: ErrMalformed, Path: path, Err: err}
		}
		m.Type = MediaType(mt)
	default:
		return nil, fail(ErrMalformed, path, "cbor-record type is neither a content-format nor a media type")
	}
	if majorType(a[1]) != cborBytes {
		return nil, fail(ErrMalformed, path, "cbor-record value is not a byte string")
	}
	if err := cborStrict.Unmarshal(a[1], &m.Value); err != nil {
		return nil, fail(ErrMalformed, path, "cbor-record value: %v", err)
	}
	if len(m.Value) == 0 {
		return nil, fail(ErrMalformed, path, "cbor-record value is empty")
	}
	if len(a) == 3 {
		if majorType(a[2]) != cborUint {
			return nil, fail(ErrMalformed, path, "cbor-record ind is not an unsigned integer")
		}
		var ind uint64
		if err := cborStrict.Unmarshal(a[2], &ind); err != nil {
			return nil, fail(ErrMalformed, path, "cbor-record ind: %v", err)
		}
		if ind == 0 || ind > math.MaxUint32 {
			return nil, fail(ErrMalformed, path, "cbor-record ind %d outside 1..2^32-1", ind)
		}
		m.Indicator = Indicator(ind)
	}
	return m, nil
}

func (d *decoder) cborTag(b []byte, path string) (*Message, error) {
	var rt cbor.RawTag
	if err := cborStrict.Unmarshal(b, &rt); err != nil {
		return nil, fail(ErrMalformed, path, "cbor-tag: %v", err)
	}
	cf, err := CF(rt.Number)
	if err != nil {
		return nil, fail(ErrMalformed, path, "cbor-tag: %v", err)
	}
	m := &Message{Format: CBORTag, Type: ContentFormat(cf)}
	if majorType(rt.Content) != cborBytes {
		return nil, fail(ErrMalformed, path, "cbor-tag content is not a byte string")
	}
	if err := cborStrict.Unmarshal(rt.Content, &m.Value); err != nil {
		return nil, fail(ErrMalformed, path, "cbor-tag content: %v", err)
	}
	if len(m.Value) == 0 {
		return nil, fail(ErrMalformed, path, "cbor-tag content is empty")
	}
	return m, nil
}

func (d *decoder) cborCollection(b []byte, depth int, path string) (*Message, error) {
	var items map[any]cbor.RawMessage
	if err := cborStrict.Unmarshal(b, &items); err != nil {
		return nil, fail(ErrMalformed, path, "cbor-collection: %v", err)
	}
	m := &Message{Format: CBORCollection}
	for k, raw := range items {
		var l Label
		switch key := k.(type) {
		case string:
			if key == collectionTypeKey {
				if majorType(raw) != cborText {
					return nil, fail(ErrMalformed, path, "%s is not a text string", collectionTypeKey)
				}
				if err := cborStrict.Unmarshal(raw, &m.CollectionType); err != nil {
					return nil, fail(ErrMalformed, path, "%s: %v", collectionTypeKey, err)
				}
				if err := checkCollectionType(m.CollectionType); err != nil {
					return nil, &Error{Kind: ErrMalformed, Path: path, Err: err}
				}
				continue
			}
			l = TextLabel(key)
		case uint64:
			if key > math.MaxInt64 {
				return nil, fail(ErrMalformed, path, "label %d does not fit int64", key)
			}
			l = IntLabel(int64(key))
		case int64:
			l = IntLabel(key)
		default:
			return nil, fail(ErrMalformed, path, "label of type %T (want int or text)", k)
		}
		sub := path + "[" + l.String() + "]"
		f := Sniff(raw)
		if !f.IsCBOR() {
			return nil, fail(ErrMalformed, sub, "a cbor-collection holds only CBOR CMWs, found %v", f)
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
	return finishCollection(m, path)
}
