package cmw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/fxamacker/cbor/v2"
	vcmw "github.com/veraison/cmw"
)

// WrapCBORRecord, WrapJSONRecord and WrapTag are the one-call forms the
// profiles use for a single Evidence or Attestation Results payload.
func WrapCBORRecord(mediaType string, value []byte, ind Indicator) ([]byte, error) {
	return NewRecord(CBORRecord, MediaType(mediaType), value, ind).Marshal()
}

func WrapJSONRecord(mediaType string, value []byte, ind Indicator) ([]byte, error) {
	return NewRecord(JSONRecord, MediaType(mediaType), value, ind).Marshal()
}

func WrapTag(cf uint16, value []byte) ([]byte, error) { return NewTag(cf, value).Marshal() }

// Marshal serializes m in m.Format.
func (m *Message) Marshal() ([]byte, error) { return m.marshal(0) }

// maxMarshalDepth stops runaway recursion on a cyclic Message built by hand.
const maxMarshalDepth = 64

func (m *Message) marshal(depth int) ([]byte, error) {
	if m == nil {
		return nil, errors.New("cmw: nil message")
	}
	if depth > maxMarshalDepth {
		return nil, errors.New("cmw: collections nested too deep to marshal")
	}
	switch m.Format {
	case CBORRecord, JSONRecord, CBORTag:
		return m.marshalLeaf()
	case CBORCollection, JSONCollection:
		return m.marshalCollection(depth)
	}
	return nil, fmt.Errorf("cmw: cannot marshal format %v", m.Format)
}

func (m *Message) marshalLeaf() ([]byte, error) {
	if len(m.Value) == 0 {
		return nil, errors.New("cmw: empty value")
	}
	var c vcmw.CMW
	c.SetValue(m.Value)
	switch {
	case m.Format == CBORTag:
		if !m.Type.IsContentFormat {
			cf, ok := ContentFormatOf(m.Type.MediaType)
			if !ok {
				return nil, fmt.Errorf("cmw: media type %q has no known content-format, cannot be a CBOR tag", m.Type.MediaType)
			}
			m = &Message{Format: CBORTag, Type: ContentFormat(cf), Value: m.Value}
		}
		if _, err := TN(m.Type.ContentFormat); err != nil {
			return nil, err
		}
		if m.Indicator != 0 {
			return nil, errors.New("cmw: a CBOR tag has no indicator")
		}
		c.SetContentFormat(m.Type.ContentFormat)
		return c.MarshalCBORTag()
	case m.Type.IsContentFormat:
		if m.Format == JSONRecord {
			return nil, errors.New("cmw: a JSON record's type must be a media type, not a content-format")
		}
		c.SetContentFormat(m.Type.ContentFormat)
	default:
		if err := checkMediaType(m.Type.MediaType); err != nil {
			return nil, err
		}
		c.SetMediaType(m.Type.MediaType)
	}
	if m.Indicator != 0 {
		c.SetIndicators(vcmw.Indicator(m.Indicator))
	}
	if m.Format == JSONRecord {
		return c.MarshalJSON()
	}
	return c.MarshalCBOR()
}

var cborSorted = func() cbor.EncMode {
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

func (m *Message) marshalCollection(depth int) ([]byte, error) {
	if len(m.Entries) == 0 {
		return nil, errors.New("cmw: a collection needs at least one entry")
	}
	if m.CollectionType != "" {
		if err := checkCollectionType(m.CollectionType); err != nil {
			return nil, err
		}
	}
	isCBOR := m.Format == CBORCollection
	seen := map[Label]bool{}
	items := make(map[any]cbor.RawMessage, len(m.Entries)+1)
	jsonItems := map[string]json.RawMessage{}
	for _, e := range m.Entries {
		if seen[e.Label] {
			return nil, fmt.Errorf("cmw: label %v appears twice", e.Label)
		}
		seen[e.Label] = true
		if !e.Label.IsInt && e.Label.Text == collectionTypeKey {
			return nil, fmt.Errorf("cmw: %q is reserved for the collection type", collectionTypeKey)
		}
		if e.Message == nil || e.Message.Format.IsCBOR() != isCBOR {
			return nil, fmt.Errorf("cmw: entry %v must be a %s CMW", e.Label, map[bool]string{true: "CBOR", false: "JSON"}[isCBOR])
		}
		enc, err := e.Message.marshal(depth + 1)
		if err != nil {
			return nil, fmt.Errorf("cmw: entry %v: %w", e.Label, err)
		}
		switch {
		case e.Label.IsInt && !isCBOR:
			return nil, fmt.Errorf("cmw: JSON collection labels are text, not %v", e.Label)
		case e.Label.IsInt:
			items[e.Label.Int] = enc
		case isCBOR:
			items[e.Label.Text] = enc
		default:
			jsonItems[e.Label.Text] = enc
		}
	}
	if !isCBOR {
		if m.CollectionType != "" {
			ct, _ := json.Marshal(m.CollectionType)
			jsonItems[collectionTypeKey] = ct
		}
		return marshalJSONObject(jsonItems)
	}
	if m.CollectionType != "" {
		ct, err := cbor.Marshal(m.CollectionType)
		if err != nil {
			return nil, err
		}
		items[collectionTypeKey] = ct
	}
	return cborSorted.Marshal(items)
}

func marshalJSONObject(items map[string]json.RawMessage) ([]byte, error) {
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(items[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
