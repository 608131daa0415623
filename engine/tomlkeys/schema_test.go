package tomlkeys

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type settings struct {
	Name  string  `toml:"name" default:"x" minlen:"1" doc:"a name"`
	Rate  float64 `toml:"rate" default:"0.5" range:"(0,1]" doc:"a rate"`
	Sizes []int   `toml:"sizes" default:"64,64" range:"[1,)" doc:"widths"`
	Mode  string  `toml:"mode" default:"a" enum:"a,b" doc:"a mode"`
	Table struct{ X int }
}

var testSchema = MustNew[settings]("test")

func TestSchemaDefaultAndSetText(t *testing.T) {
	c := testSchema.Default()
	want := settings{Name: "x", Rate: 0.5, Sizes: []int{64, 64}, Mode: "a"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Default() = %+v, want %+v", c, want)
	}
	// No two defaults share a slice.
	c.Sizes[0] = 1
	if d := testSchema.Default(); d.Sizes[0] != 64 {
		t.Errorf("changing one default's slice changed the next: %v", d.Sizes)
	}
	for _, tt := range []struct{ key, text, want string }{
		{"rate", " 1 ", ""},
		{"sizes", "[8, 4]", ""},
		{"rate", "0", `key "rate" = 0.0 is out of range (0, 1]`},
		{"rate", "fast", `key "rate": expected a number, got "fast"`},
		{"mode", "c", `key "mode" = "c" must be one of a, b`},
		{"sizes", "0", `key "sizes" element 0 = 0 is out of range [1, +inf)`},
	} {
		f, ok := testSchema.Lookup(tt.key)
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", tt.key)
		}
		err := testSchema.SetText(&c, f, tt.text)
		if got := errText(err); got != tt.want {
			t.Errorf("SetText(%s, %q) = %q, want %q", tt.key, tt.text, got, tt.want)
		}
	}
	if c.Rate != 1 || !reflect.DeepEqual(c.Sizes, []int{8, 4}) {
		t.Errorf("after SetText: %+v", c)
	}
	if _, ok := testSchema.Lookup("table"); ok {
		t.Error("a struct field (a table) is a key of the schema")
	}
	c.Name = ""
	if errs := testSchema.Check(&c); len(errs) != 1 || errs[0].Error() != `key "name" = "" must have at least 1 character` {
		t.Errorf("Check = %v, want the empty name alone", errs)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSchemaKeysAndEncode(t *testing.T) {
	keys := testSchema.Keys()
	want := []KeyDoc{
		{Key: "name", Kind: "string", Default: `"x"`, Allowed: "at least 1 character", Doc: "a name"},
		{Key: "rate", Kind: "float", Default: "0.5", Allowed: "(0, 1]", Doc: "a rate"},
		{Key: "sizes", Kind: "integer array", Default: "[64, 64]", Allowed: "each [1, +inf)", Doc: "widths"},
		{Key: "mode", Kind: "string", Default: `"a"`, Allowed: "one of a, b", Doc: "a mode"},
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("Keys() =\n%+v\nwant\n%+v", keys, want)
	}
	c := testSchema.Default()
	c.Rate = 1
	var b bytes.Buffer
	testSchema.Encode(&b, c, func(key string) bool { return key == "mode" })
	wantText := "\n# a name\n# allowed: at least 1 character; default: \"x\"\nname = \"x\"\n" +
		"\n# a rate\n# allowed: (0, 1]; default: 0.5\nrate = 1.0\n" +
		"\n# widths\n# allowed: each [1, +inf); default: [64, 64]\nsizes = [64, 64]\n"
	if b.String() != wantText {
		t.Errorf("Encode wrote\n%s\nwant\n%s", b.String(), wantText)
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.toml")
	if _, err := ReadFile(path); err == nil || err.Error() != "config file "+path+": no such file or directory" {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("a = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(path); err != nil || !strings.HasPrefix(string(data), "a = 1") {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
}
