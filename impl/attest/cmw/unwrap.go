package cmw

import (
	"errors"
	"fmt"
	"sort"
)

// Sentinels every decoding *Error matches (all of them also match ErrMalformed).
var (
	ErrMalformed     = errors.New("malformed CMW")
	ErrUnknownFormat = errors.New("unknown CMW format")
	ErrTooLarge      = errors.New("CMW too large")
	ErrTooDeep       = errors.New("CMW collections nested too deep")
)

// Error is a decoding failure: Kind is one of the sentinels, Path says where
// in the tree (empty at the top), Err gives the detail.
type Error struct {
	Kind error
	Path string
	Err  error
}

func (e *Error) Error() string {
	s := "cmw: " + e.Kind.Error()
	if e.Path != "" {
		s += " at " + e.Path
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() []error {
	out := []error{e.Kind}
	if e.Kind != ErrMalformed {
		out = append(out, ErrMalformed)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Limits bound what Unwrap accepts.
type Limits struct {
	MaxSize    int // whole CMW, bytes
	MaxDepth   int // collections inside collections; a top-level collection is depth 1
	MaxEntries int // entries in one collection
}

// DefaultLimits fit the TLS carriers: opaque <1..2^24-1>, and collections as
// deep and wide as the KAT/PAT bundles need with room to spare.
var DefaultLimits = Limits{MaxSize: 1<<24 - 1, MaxDepth: 8, MaxEntries: 64}

// Unwrap decodes b with DefaultLimits.
func Unwrap(b []byte) (*Message, error) { return DefaultLimits.Unwrap(b) }

// Unwrap decodes one CMW that must fill b exactly (JSON may have surrounding
// whitespace only after the first byte).
func (l Limits) Unwrap(b []byte) (*Message, error) {
	if len(b) == 0 {
		return nil, &Error{Kind: ErrMalformed, Err: errors.New("empty")}
	}
	if l.MaxSize > 0 && len(b) > l.MaxSize {
		return nil, &Error{Kind: ErrTooLarge, Err: fmt.Errorf("%d bytes, limit %d", len(b), l.MaxSize)}
	}
	d := decoder{lim: l}
	return d.decode(b, Sniff(b), 0, "")
}

type decoder struct{ lim Limits }

func fail(kind error, path string, format string, args ...any) error {
	return &Error{Kind: kind, Path: path, Err: fmt.Errorf(format, args...)}
}

func (d *decoder) decode(b []byte, f Format, depth int, path string) (*Message, error) {
	switch f {
	case CBORRecord:
		return d.cborRecord(b, path)
	case CBORTag:
		return d.cborTag(b, path)
	case JSONRecord:
		return d.jsonRecord(b, path)
	case CBORCollection, JSONCollection:
		if d.lim.MaxDepth > 0 && depth+1 > d.lim.MaxDepth {
			return nil, fail(ErrTooDeep, path, "limit %d", d.lim.MaxDepth)
		}
		if f == CBORCollection {
			return d.cborCollection(b, depth+1, path)
		}
		return d.jsonCollection(b, depth+1, path)
	}
	first := "nothing"
	if len(b) > 0 {
		first = fmt.Sprintf("0x%02x", b[0])
	}
	return nil, fail(ErrUnknownFormat, path, "first byte %s", first)
}

func finishCollection(m *Message, path string) (*Message, error) {
	if len(m.Entries) == 0 {
		return nil, fail(ErrMalformed, path, "a collection needs at least one entry")
	}
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Label.less(m.Entries[j].Label) })
	return m, nil
}
