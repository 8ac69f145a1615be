package tls13

import (
	"reflect"
	"strings"
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

// Two connections in one process, with different names for the same
// code (as two codepoint tables give), each report their own.
func TestAlertNamesPerConnection(t *testing.T) {
	p := getPKI(t)
	for _, name := range []string{"alpha", "beta"} {
		cc, sc := p.clientConfig(), p.serverConfig()
		cc.NameAlerts(map[AlertCode]string{200: name})
		sc.NameAlerts(map[AlertCode]string{200: name + "-server"})
		// No common cipher suite: the server aborts, with code 200.
		cc.CipherSuites, sc.CipherSuites = []uint16{TLS_AES_128_GCM_SHA256}, []uint16{TLS_AES_256_GCM_SHA384}
		sc.Bugs.SendAlert = 200
		_, _, cerr, serr := runPair(t, cc, sc)
		if cerr == nil || !strings.Contains(cerr.Error(), "received alert "+name) {
			t.Errorf("client: %v, want the alert named %s", cerr, name)
		}
		if serr == nil || !strings.Contains(serr.Error(), "sent alert "+name+"-server") {
			t.Errorf("server: %v, want the alert named %s-server", serr, name)
		}
	}
	if got := AlertCode(200).String(); got != "alert(200)" {
		t.Errorf("the process-wide name of 200 is %q: a connection's names leaked", got)
	}
}
