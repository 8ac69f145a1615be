package tls13

import (
	"reflect"
	"testing"
)

// Clone leaves no slice or map of Config (or of its Bugs) shared with the
// original, whatever fields are added later: every such field is filled
// here by reflection and checked.
func TestConfigCloneSharesNoSliceOrMap(t *testing.T) {
	var c Config
	fill(reflect.ValueOf(&c).Elem())
	n := c.Clone()
	check(t, "Config", reflect.ValueOf(&c).Elem(), reflect.ValueOf(n).Elem())
	// And it is a copy: same contents.
	if !reflect.DeepEqual(&c, n) {
		t.Fatal("the clone differs from the original")
	}
}

// fill gives every slice and map field (and inner list of a map) one
// element; structs are filled recursively.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			val := reflect.New(f.Type().Elem()).Elem()
			if val.Kind() == reflect.Slice {
				val = reflect.MakeSlice(val.Type(), 1, 1)
			}
			m.SetMapIndex(reflect.New(f.Type().Key()).Elem(), val)
			f.Set(m)
		case reflect.Struct:
			fill(f)
		}
	}
}

func check(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		name := path + "." + a.Type().Field(i).Name
		switch fa.Kind() {
		case reflect.Slice:
			if fa.Len() > 0 && fa.Pointer() == fb.Pointer() {
				t.Errorf("%s is shared by the clone", name)
			}
		case reflect.Map:
			if fa.Pointer() == fb.Pointer() {
				t.Errorf("%s is shared by the clone", name)
			}
			for _, k := range fa.MapKeys() {
				if ia, ib := fa.MapIndex(k), fb.MapIndex(k); ia.Kind() == reflect.Slice && ia.Len() > 0 && ia.Pointer() == ib.Pointer() {
					t.Errorf("%s[%v] is shared by the clone", name, k)
				}
			}
		case reflect.Struct:
			if fa.Type().NumField() > 0 && a.Type().Field(i).IsExported() {
				check(t, name, fa, fb)
			}
		}
	}
}
