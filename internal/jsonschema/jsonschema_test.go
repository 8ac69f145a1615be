package jsonschema

import (
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
	for _, c := range []struct{ doc, want string }{
		{`{"v":2,"items":[{"id":"x"}]}`, `/v: value 2`},
		{`{"v":1}`, `missing required property "items"`},
		{`{"v":1,"items":[]}`, `fewer than 1 items`},
		{`{"v":1,"items":[{"id":"x"},{"id":"x"}]}`, `items 0 and 1 are equal`},
		{`{"v":1,"items":[{"id":"X"}]}`, `/items/0/id: "X" does not match`},
		{`{"v":1,"items":[{"id":""}]}`, `shorter than 1`},
		{`{"v":1,"items":[{"id":"x","kind":"c"}]}`, `/items/0/kind: value "c" not in enum`},
		{`{"v":1,"items":[{"id":"x","code":1.5}]}`, `type number, want integer`},
		{`{"v":1,"items":[{"id":"x","extra":1}]}`, `property "extra" not allowed`},
		{`{"v":1,"items":[{"id":"x"}],"n":-1}`, `below minimum`},
		{`{"v":1,"items":[{"id":"x"}],"n":11}`, `above maximum`},
		{`{"v":1,"items":[{"id":"x"}],"when":"yesterday"}`, `not an RFC 3339 date-time`},
		{`{"v":1,"items":[{"id":"x"}]} {}`, `trailing data`},
		{`[]`, `type array, want object`},
	} {
		err := s.Validate([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%s) = %v, want error containing %q", c.doc, err, c.want)
		}
	}
}

func TestCompileRejectsUnsupported(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"$schema":"http://json-schema.org/draft-07/schema#"}`, `$schema`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","oneOf":[]}`, `oneOf: keyword not supported`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/nope"}`, `dangling $ref`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"other.json"}`, `only local`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","format":"uri"}`, `only date-time`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"integer","pattern":"("}`, `pattern`},
		{`{"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{},"required":["x"]}`, `is not a property`},
	} {
		_, err := Compile([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%s) = %v, want error containing %q", c.doc, err, c.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	s, err := Compile([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	item := s.Property("items").Items()
	if item.Ref() != "item" {
		t.Fatalf("items ref = %q", item.Ref())
	}
	d := s.Def("item")
	if got := strings.Join(d.Properties(), ","); got != "code,id,kind" {
		t.Errorf("Properties = %s", got)
	}
	if got := strings.Join(d.Required(), ","); got != "id" {
		t.Errorf("Required = %s", got)
	}
	if got := strings.Join(d.Property("kind").Enum(), ","); got != `"a","b"` {
		t.Errorf("Enum = %s", got)
	}
}

// FuzzValidate: neither Compile nor Validate panics on arbitrary input,
// and a compiled test schema judges every instance without panicking.
func FuzzValidate(f *testing.F) {
	s, err := Compile([]byte(testSchema))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"v":1,"items":[{"id":"x"}]}`))
	f.Add([]byte(testSchema))
	f.Add([]byte(`{"v":1,"items":[[[[[[]]]]]]}`))
	f.Add([]byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = s.Validate(doc)
		if c, err := Compile(doc); err == nil {
			_ = c.Validate(doc)
		}
	})
}
