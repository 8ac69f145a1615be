package requirements

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the catalog decoder and validator: it
// must never panic, and anything it accepts must survive a marshal/parse
// round trip unchanged and answer ByID for each of its entries.
func FuzzParse(f *testing.F) {
	f.Add(catalogJSON)
	if data, err := json.Marshal(good()); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"schema":1,"documents":[{"profile":"a","draft":"d","revision":"1","kind":"draft","source":"s"}],"requirements":[{"id":"A-1-1","profile":"a","section":"1","level":"MUST","role":"any","quote":"q","testable":true}]}`))
	f.Add([]byte(`{"schema":1,"documents":[],"requirements":null}`))
	f.Add([]byte(`{"schema":1,"requirements":[{"id":"","level":"MUST NOT"}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"schema":"1"}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, r := range c.Requirements {
			got, ok := c.ByID(r.ID)
			if !ok || got != r {
				t.Fatalf("ByID(%q) = %+v, %v", r.ID, got, ok)
			}
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted catalog: %v", err)
		}
		c2, err := Parse(again)
		if err != nil {
			t.Fatalf("re-parse of accepted catalog: %v", err)
		}
		if !reflect.DeepEqual(c.Documents, c2.Documents) || !reflect.DeepEqual(c.Requirements, c2.Requirements) {
			t.Fatal("round trip changed the catalog")
		}
	})
}
