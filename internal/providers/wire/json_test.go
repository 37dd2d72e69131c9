package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNum(t *testing.T) {
	for _, tt := range []struct {
		in  string
		v   float64
		ok  bool
		raw string
	}{
		{`"50.0"`, 50, true, ""},
		{`100.5`, 100.5, true, ""},
		{`"  1,215.90 "`, 1215.9, true, ""},
		{`""`, 0, false, ""},
		{`null`, 0, false, ""},
		{`"无"`, 0, false, "无"},
		{`{"x":1}`, 0, false, `{"x":1}`},
		{`true`, 0, false, "true"},
		{`"NaN"`, 0, false, "NaN"},
		{`"1e16"`, 0, false, "1e16"},               // beyond MaxNum: garbage
		{`4000787030016`, 4000787030016, true, ""}, // a 4 TB disk in bytes
	} {
		var n Num
		if err := json.Unmarshal([]byte(tt.in), &n); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if n.V != tt.v || n.OK != tt.ok || n.Raw != tt.raw {
			t.Errorf("%s: got %+v, want {V:%v OK:%v Raw:%q}", tt.in, n, tt.v, tt.ok, tt.raw)
		}
	}
}

func TestTextBoolOptList(t *testing.T) {
	type obj struct {
		A Text `json:"a"`
	}
	var v struct {
		S, N, B, Z, O, E, W Text
		P                   *Text
		Absent              *Text
		T, F, One, X        Bool
		Obj, Empty          Opt[obj]
		L                   List[obj]
		NotList             List[obj]
	}
	in := `{"S":" id-1 ","N":12345678901,"B":true,"Z":null,"O":{"a":1},"E":"a\"b","W":"","P":"",
		"T":"true","F":0,"One":"1","X":"yes","Obj":{"a":"x"},"Empty":"","L":[{"a":"1"},"junk",null,{"a":2}],"NotList":""}`
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	w := v
	if err := Decode([]byte(in), &w); err != nil || !reflect.DeepEqual(w, v) {
		t.Errorf("one-pass Decode: %v\n%+v\nencoding/json\n%+v", err, w, v)
	}
	for got, want := range map[Text]Text{v.S: "id-1", v.N: "12345678901", v.B: "true", v.Z: "", v.O: "", v.E: `a"b`, v.W: ""} {
		if got != want {
			t.Errorf("text %q, want %q", got, want)
		}
	}
	if v.P == nil || v.P.String() != "" || v.Absent != nil || v.Absent.String() != "" {
		t.Errorf("optional text: present %v, absent %v", v.P, v.Absent)
	}
	if !v.T.V || !v.T.OK || v.F.V || !v.F.OK || !v.One.V || v.X.OK {
		t.Errorf("bools %+v %+v %+v %+v", v.T, v.F, v.One, v.X)
	}
	if v.Obj.V == nil || v.Obj.V.A != "x" || v.Empty.V != nil {
		t.Errorf("opt %+v %+v", v.Obj.V, v.Empty.V)
	}
	if len(v.L) != 2 || v.L[0].A != "1" || v.L[1].A != "2" || len(v.NotList) != 0 {
		t.Errorf("list %+v, not a list %+v", v.L, v.NotList)
	}
}

// Whatever an upstream sends, the lenient types never fail the surrounding decoding, a
// number read is finite and believable, and the kept raw text stays an excerpt.
func FuzzLenient(f *testing.F) {
	for _, s := range []string{`"50.0"`, `1e400`, `"1,2,3"`, `null`, `{"a":[1]}`, `"\u00a0 7 "`, `true`, `"NaN"`, `-0`, `"` + string(make([]byte, 50)) + `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		doc := []byte(`{"n":` + field + `,"t":` + field + `,"b":` + field + `,"o":` + field + `,"l":` + field + `}`)
		if !json.Valid(doc) {
			return
		}
		type lenient struct {
			N Num                    `json:"n"`
			T Text                   `json:"t"`
			B Bool                   `json:"b"`
			O Opt[struct{ X Num }]   `json:"o"`
			L List[struct{ X Text }] `json:"l"`
		}
		var v, w lenient
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if err := Decode(doc, &w); err != nil || !reflect.DeepEqual(w, v) {
			t.Fatalf("%s: one-pass Decode %v\n%+v\nencoding/json\n%+v", doc, err, w, v)
		}
		if v.N.OK && (v.N.V != v.N.V || v.N.V > MaxNum || v.N.V < -MaxNum || v.N.Raw != "") {
			t.Fatalf("%s: number %+v", field, v.N)
		}
		if r := []rune(v.N.Raw); len(r) > rawExcerpt+1 {
			t.Fatalf("raw text of %d runes kept", len(r))
		}
	})
}
