package jsonschema

import (
	"slices"
	"strings"
	"testing"
)

const testSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["v", "items"],
  "properties": {
    "v": {"const": 1},
    "when": {"type": "string", "format": "date-time"},
    "items": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"$ref": "#/$defs/item"}},
    "n": {"type": "number", "minimum": 0, "maximum": 10}
  },
  "$defs": {
    "item": {
      "type": "object",
      "additionalProperties": false,
      "required": ["id"],
      "properties": {
        "id": {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"},
        "kind": {"enum": ["a", "b"]},
        "code": {"type": "integer"}
      }
    }
  }
}`

func TestValidate(t *testing.T) {
	s, err := Compile([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"v":1,"when":"2026-11-26T10:00:00.5Z","items":[{"id":"x","kind":"a","code":3.0}],"n":10}`
	if err := s.Validate([]byte(good)); err != nil {
		t.Fatalf("good instance rejected: %v", err)
	}
	// Each violation is reported at its instance location.
	for _, c := range []struct{ doc, at string }{
		{`{"v":2,"items":[{"id":"x"}]}`, `/v`},
		{`{"v":1}`, `items`},
		{`{"v":1,"items":[]}`, `/items`},
		{`{"v":1,"items":[{"id":"x"},{"id":"x"}]}`, `/items`},
		{`{"v":1,"items":[{"id":"X"}]}`, `/items/0/id`},
		{`{"v":1,"items":[{"id":""}]}`, `/items/0/id`},
		{`{"v":1,"items":[{"id":"x","kind":"c"}]}`, `/items/0/kind`},
		{`{"v":1,"items":[{"id":"x","code":1.5}]}`, `/items/0/code`},
		{`{"v":1,"items":[{"id":"x","extra":1}]}`, `extra`},
		{`{"v":1,"items":[{"id":"x"}],"n":-1}`, `/n`},
		{`{"v":1,"items":[{"id":"x"}],"n":11}`, `/n`},
		{`{"v":1,"items":[{"id":"x"}],"when":"yesterday"}`, `/when`},
		{`{"v":1,"items":[{"id":"x"}]} {}`, `trailing data`},
		{`[]`, `object`},
	} {
		err := s.Validate([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.at) {
			t.Errorf("Validate(%s) = %v, want an error naming %q", c.doc, err, c.at)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"another draft":  `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}`,
		"no $schema":     `{"type": "object"}`,
		"a bad keyword":  `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 5}`,
		"a missing $ref": `{"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "#/$defs/none"}`,
		"not JSON":       `{`,
	} {
		if _, err := Compile([]byte(doc)); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func TestDeclarations(t *testing.T) {
	s, err := Compile([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Properties(); !slices.Equal(got, []string{"items", "n", "v", "when"}) {
		t.Errorf("properties %v", got)
	}
	if got := s.Required(); !slices.Equal(got, []string{"items", "v"}) {
		t.Errorf("required %v", got)
	}
	item := s.Def("item")
	if item == nil || s.Def("none") != nil {
		t.Fatal("$defs lookup")
	}
	if got := item.Properties(); !slices.Equal(got, []string{"code", "id", "kind"}) {
		t.Errorf("item properties %v", got)
	}
	if got := item.Property("kind").Enum(); !slices.Equal(got, []string{`"a"`, `"b"`}) {
		t.Errorf("kind enum %v", got)
	}
	if item.Property("nope") != nil || item.Property("id").Enum() != nil {
		t.Error("an undeclared property or an unconstrained enum")
	}
}
