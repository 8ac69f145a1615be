// Package jsonschema validates JSON documents against the small subset of
// JSON Schema (draft 2020-12) that the reports schemas use. A schema using
// any other keyword is rejected at Compile, so the subset can never be
// exceeded silently.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Draft is the only $schema value accepted.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Schema is a compiled schema node.
type Schema struct {
	ref        string
	types      []string
	properties map[string]*Schema
	required   []string
	// additional is nil when additionalProperties is absent (allowed).
	additional *bool
	items      *Schema
	enum       []any
	hasConst   bool
	constVal   any
	pattern    *regexp.Regexp
	minLength  *int
	minimum    *float64
	maximum    *float64
	minItems   *int
	unique     bool
	format     string

	root *Schema
	defs map[string]*Schema
}

// Compile parses a schema document. Unknown keywords, unknown formats,
// dangling $refs and a $schema other than Draft are errors.
func Compile(doc []byte) (*Schema, error) {
	v, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("jsonschema: schema: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("jsonschema: schema is not an object")
	}
	if s, _ := obj["$schema"].(string); s != Draft {
		return nil, fmt.Errorf("jsonschema: $schema %q, want %q", obj["$schema"], Draft)
	}
	root := &Schema{defs: map[string]*Schema{}}
	root.root = root
	if d, ok := obj["$defs"]; ok {
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, errors.New("jsonschema: $defs is not an object")
		}
		for name := range dm {
			root.defs[name] = &Schema{root: root}
		}
		for name, sub := range dm {
			if err := root.defs[name].compile(sub, "#/$defs/"+name); err != nil {
				return nil, err
			}
		}
	}
	delete(obj, "$defs")
	if err := root.compile(obj, "#"); err != nil {
		return nil, err
	}
	for name, d := range root.defs {
		if err := d.checkRefs(map[*Schema]bool{}); err != nil {
			return nil, fmt.Errorf("jsonschema: #/$defs/%s: %w", name, err)
		}
	}
	if err := root.checkRefs(map[*Schema]bool{}); err != nil {
		return nil, fmt.Errorf("jsonschema: %w", err)
	}
	return root, nil
}

func (s *Schema) compile(v any, at string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("jsonschema: %s: schema is not an object", at)
	}
	bad := func(kw string, why string) error {
		return fmt.Errorf("jsonschema: %s/%s: %s", at, kw, why)
	}
	for kw, val := range obj {
		switch kw {
		case "$schema", "$id", "$comment", "title", "description":
			if _, ok := val.(string); !ok {
				return bad(kw, "not a string")
			}
		case "$ref":
			ref, ok := val.(string)
			if !ok || !strings.HasPrefix(ref, "#/$defs/") {
				return bad(kw, "only local #/$defs/ references are supported")
			}
			s.ref = strings.TrimPrefix(ref, "#/$defs/")
		case "type":
			switch t := val.(type) {
			case string:
				s.types = []string{t}
			case []any:
				for _, e := range t {
					str, ok := e.(string)
					if !ok {
						return bad(kw, "not a string")
					}
					s.types = append(s.types, str)
				}
			default:
				return bad(kw, "not a string or array")
			}
			for _, t := range s.types {
				if !slices.Contains([]string{"object", "array", "string", "integer", "number", "boolean", "null"}, t) {
					return bad(kw, "unknown type "+strconv.Quote(t))
				}
			}
		case "properties":
			pm, ok := val.(map[string]any)
			if !ok {
				return bad(kw, "not an object")
			}
			s.properties = map[string]*Schema{}
			for name, sub := range pm {
				c := &Schema{root: s.root}
				if err := c.compile(sub, at+"/properties/"+name); err != nil {
					return err
				}
				s.properties[name] = c
			}
		case "required":
			arr, ok := val.([]any)
			if !ok {
				return bad(kw, "not an array")
			}
			for _, e := range arr {
				str, ok := e.(string)
				if !ok {
					return bad(kw, "not a string")
				}
				s.required = append(s.required, str)
			}
		case "additionalProperties":
			b, ok := val.(bool)
			if !ok {
				return bad(kw, "only booleans are supported")
			}
			s.additional = &b
		case "items":
			c := &Schema{root: s.root}
			if err := c.compile(val, at+"/items"); err != nil {
				return err
			}
			s.items = c
		case "enum":
			arr, ok := val.([]any)
			if !ok || len(arr) == 0 {
				return bad(kw, "not a non-empty array")
			}
			s.enum = arr
		case "const":
			s.hasConst, s.constVal = true, val
		case "pattern":
			str, ok := val.(string)
			if !ok {
				return bad(kw, "not a string")
			}
			re, err := regexp.Compile(str)
			if err != nil {
				return bad(kw, err.Error())
			}
			s.pattern = re
		case "minLength", "minItems":
			n, ok := nonNegInt(val)
			if !ok {
				return bad(kw, "not a non-negative integer")
			}
			if kw == "minLength" {
				s.minLength = &n
			} else {
				s.minItems = &n
			}
		case "minimum", "maximum":
			f, ok := number(val)
			if !ok {
				return bad(kw, "not a number")
			}
			if kw == "minimum" {
				s.minimum = &f
			} else {
				s.maximum = &f
			}
		case "uniqueItems":
			b, ok := val.(bool)
			if !ok {
				return bad(kw, "not a boolean")
			}
			s.unique = b
		case "format":
			str, _ := val.(string)
			if str != "date-time" {
				return bad(kw, "only date-time is supported")
			}
			s.format = str
		case "$defs":
			return bad(kw, "$defs only at the root")
		default:
			return bad(kw, "keyword not supported by this validator")
		}
	}
	for _, r := range s.required {
		if s.properties != nil && s.properties[r] == nil && s.additional != nil && !*s.additional {
			return bad("required", strconv.Quote(r)+" is not a property and additional properties are forbidden")
		}
	}
	return nil
}

// checkRefs resolves every $ref reachable from s.
func (s *Schema) checkRefs(seen map[*Schema]bool) error {
	if seen[s] {
		return nil
	}
	seen[s] = true
	if s.ref != "" && s.root.defs[s.ref] == nil {
		return fmt.Errorf("dangling $ref #/$defs/%s", s.ref)
	}
	for _, p := range s.properties {
		if err := p.checkRefs(seen); err != nil {
			return err
		}
	}
	if s.items != nil {
		return s.items.checkRefs(seen)
	}
	return nil
}

// Validate decodes doc and checks it against the schema, returning every
// violation found (joined), each prefixed with its JSON pointer.
func (s *Schema) Validate(doc []byte) error {
	v, err := decode(doc)
	if err != nil {
		return fmt.Errorf("jsonschema: instance: %w", err)
	}
	var errs []error
	s.validate(v, "", &errs, 0)
	return errors.Join(errs...)
}

// maxDepth bounds $ref recursion on hostile instances.
const maxDepth = 64

func (s *Schema) validate(v any, at string, errs *[]error, depth int) {
	fail := func(format string, args ...any) {
		p := at
		if p == "" {
			p = "/"
		}
		*errs = append(*errs, fmt.Errorf("%s: "+format, append([]any{p}, args...)...))
	}
	if depth > maxDepth {
		fail("nesting deeper than %d", maxDepth)
		return
	}
	if s.ref != "" {
		s.root.defs[s.ref].validate(v, at, errs, depth+1)
	}
	if len(s.types) > 0 && !slices.ContainsFunc(s.types, func(t string) bool { return hasType(v, t) }) {
		fail("type %s, want %s", typeName(v), strings.Join(s.types, " or "))
		return
	}
	if s.hasConst && !equal(v, s.constVal) {
		fail("value %s, want %s", show(v), show(s.constVal))
	}
	if s.enum != nil && !slices.ContainsFunc(s.enum, func(e any) bool { return equal(v, e) }) {
		fail("value %s not in enum", show(v))
	}
	switch t := v.(type) {
	case string:
		if s.minLength != nil && utf8.RuneCountInString(t) < *s.minLength {
			fail("shorter than %d characters", *s.minLength)
		}
		if s.pattern != nil && !s.pattern.MatchString(t) {
			fail("%q does not match %s", t, s.pattern)
		}
		if s.format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
				fail("not an RFC 3339 date-time: %q", t)
			}
		}
	case json.Number:
		f, _ := t.Float64()
		if s.minimum != nil && f < *s.minimum {
			fail("%s below minimum %v", t, *s.minimum)
		}
		if s.maximum != nil && f > *s.maximum {
			fail("%s above maximum %v", t, *s.maximum)
		}
	case []any:
		if s.minItems != nil && len(t) < *s.minItems {
			fail("fewer than %d items", *s.minItems)
		}
		if s.unique {
			for i := range t {
				for j := i + 1; j < len(t); j++ {
					if equal(t[i], t[j]) {
						fail("items %d and %d are equal", i, j)
					}
				}
			}
		}
		if s.items != nil {
			for i, e := range t {
				s.items.validate(e, at+"/"+strconv.Itoa(i), errs, depth+1)
			}
		}
	case map[string]any:
		for _, r := range s.required {
			if _, ok := t[r]; !ok {
				fail("missing required property %q", r)
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := s.properties[k]
			if sub == nil {
				if s.additional != nil && !*s.additional {
					fail("property %q not allowed", k)
				}
				continue
			}
			sub.validate(t[k], at+"/"+pointerEscape(k), errs, depth+1)
		}
	}
}

func decode(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func hasType(v any, t string) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		if t == "number" {
			return true
		}
		if t == "integer" {
			f, err := v.Float64()
			return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
		}
	}
	return false
}

func typeName(v any) string {
	for _, t := range []string{"null", "boolean", "string", "array", "object", "integer", "number"} {
		if hasType(v, t) {
			return t
		}
	}
	return fmt.Sprintf("%T", v)
}

// equal compares decoded JSON values; numbers compare by value.
func equal(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		fa, ea := a.Float64()
		fb, eb := bn.Float64()
		return ea == nil && eb == nil && fa == fb
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !equal(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 80 {
		return typeName(v)
	}
	return string(b)
}

func nonNegInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	return i, err == nil && i >= 0
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func pointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// Def returns the schema under #/$defs/name, nil if none.
func (s *Schema) Def(name string) *Schema { return s.root.defs[name] }

// Ref names the $defs entry this node refers to, "" if none.
func (s *Schema) Ref() string { return s.ref }

// Property returns the schema of an object property, nil if not declared.
func (s *Schema) Property(name string) *Schema { return s.properties[name] }

// Properties lists the declared property names, sorted.
func (s *Schema) Properties() []string {
	out := make([]string, 0, len(s.properties))
	for k := range s.properties {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Required lists the required property names, sorted.
func (s *Schema) Required() []string {
	out := slices.Clone(s.required)
	sort.Strings(out)
	return out
}

// Items returns the schema of array items, nil if none.
func (s *Schema) Items() *Schema { return s.items }

// Types lists the allowed JSON types, nil if unconstrained.
func (s *Schema) Types() []string { return slices.Clone(s.types) }

// Enum returns the allowed values as JSON text, nil if unconstrained.
func (s *Schema) Enum() []string {
	var out []string
	for _, e := range s.enum {
		out = append(out, show(e))
	}
	return out
}
