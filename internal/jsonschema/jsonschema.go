// Package jsonschema validates JSON documents against the suite's JSON
// Schema (draft 2020-12) documents with github.com/santhosh-tekuri/jsonschema,
// formats asserted, and lets tests read a compiled schema's declarations
// (its $defs, properties, required properties and enums) to hold it to
// the Go types it describes.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	js "github.com/santhosh-tekuri/jsonschema/v6"
)

// Draft is the only $schema value accepted.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// location names the one document a Schema compiles.
const location = "urn:attested-tls:schema"

// Schema is a compiled schema node.
type Schema struct {
	node *js.Schema
	c    *js.Compiler
}

// Compile compiles a schema document, which must declare Draft.
func Compile(doc []byte) (*Schema, error) {
	v, err := decode(doc)
	if err != nil {
		return nil, fmt.Errorf("jsonschema: %w", err)
	}
	if m, ok := v.(map[string]any); !ok || m["$schema"] != Draft {
		return nil, fmt.Errorf("jsonschema: $schema must be %s", Draft)
	}
	c := js.NewCompiler()
	c.DefaultDraft(js.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(location, v); err != nil {
		return nil, fmt.Errorf("jsonschema: %w", err)
	}
	s, err := c.Compile(location)
	if err != nil {
		return nil, fmt.Errorf("jsonschema: %w", err)
	}
	return &Schema{node: s, c: c}, nil
}

// Validate decodes doc (exactly one JSON value) and checks it against the
// schema; the error lists every violation with its instance location.
func (s *Schema) Validate(doc []byte) error {
	v, err := decode(doc)
	if err != nil {
		return err
	}
	return s.node.Validate(v)
}

func decode(doc []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// Def returns the schema under #/$defs/name, nil if none.
func (s *Schema) Def(name string) *Schema {
	n, err := s.c.Compile(location + "#/$defs/" + name)
	if err != nil {
		return nil
	}
	return &Schema{node: n, c: s.c}
}

// resolved is the node a bare $ref stands for.
func (s *Schema) resolved() *js.Schema {
	n := s.node
	for n.Ref != nil && n.Properties == nil && n.Enum == nil {
		n = n.Ref
	}
	return n
}

// Property returns the schema of an object property, nil if not declared.
func (s *Schema) Property(name string) *Schema {
	p, ok := s.resolved().Properties[name]
	if !ok {
		return nil
	}
	return &Schema{node: p, c: s.c}
}

// Properties lists the declared property names, sorted.
func (s *Schema) Properties() []string { return slices.Sorted(maps.Keys(s.resolved().Properties)) }

// Required lists the required property names, sorted.
func (s *Schema) Required() []string { return slices.Sorted(slices.Values(s.resolved().Required)) }

// Enum returns the allowed values as JSON text, nil if unconstrained.
func (s *Schema) Enum() []string {
	e := s.resolved().Enum
	if e == nil {
		return nil
	}
	var out []string
	for _, v := range e.Values {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return out
}
