package tomlkeys

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the value type of a setting. It is derived from the Go field type,
// so the tags never have to repeat it.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindInt64
	kindFloat
	kindIntList
)

// kindOf maps a Go field type to its kind; ok is false for unsupported types.
func kindOf(t reflect.Type) (k kind, ok bool) {
	switch t.Kind() {
	case reflect.String:
		return kindString, true
	case reflect.Bool:
		return kindBool, true
	case reflect.Int:
		return kindInt, true
	case reflect.Int64:
		return kindInt64, true
	case reflect.Float64:
		return kindFloat, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Int {
			return kindIntList, true
		}
	}
	return 0, false
}

// name is the kind as a user sees it in TOML terms (for a -list).
func (k kind) name() string {
	switch k {
	case kindString:
		return "string"
	case kindBool:
		return "boolean"
	case kindInt, kindInt64:
		return "integer"
	case kindFloat:
		return "float"
	case kindIntList:
		return "integer array"
	}
	return "unknown"
}

// expected is the phrase used in type errors: "expected an integer".
func (k kind) expected() string {
	switch k {
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean (true or false)"
	case kindInt, kindInt64:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindIntList:
		return "an array of integers"
	}
	return "a value"
}

// numeric reports whether a range tag makes sense for the kind. For integer
// arrays the range applies to each element.
func (k kind) numeric() bool {
	return k == kindInt || k == kindInt64 || k == kindFloat || k == kindIntList
}

// interval is a parsed range tag such as "[0,1]" or "(0,)". A missing bound
// is unbounded on that side.
type interval struct {
	lo, hi         float64
	hasLo, hasHi   bool
	loOpen, hiOpen bool
}

// parseInterval parses interval notation: '[' or '(' , lower bound, ',',
// upper bound, ']' or ')'. An empty bound means unbounded and must use a
// parenthesis, because an infinite endpoint cannot be included; bounds
// themselves must be finite numbers.
func parseInterval(s string) (interval, error) {
	bad := func(why string) (interval, error) {
		return interval{}, fmt.Errorf("range %q: %s (want interval notation such as [0,1], (0,) or [1,))", s, why)
	}
	s = strings.TrimSpace(s)
	if len(s) < 3 {
		return bad("too short")
	}
	var iv interval
	switch s[0] {
	case '[':
	case '(':
		iv.loOpen = true
	default:
		return bad("must start with [ or (")
	}
	switch s[len(s)-1] {
	case ']':
	case ')':
		iv.hiOpen = true
	default:
		return bad("must end with ] or )")
	}
	lo, hi, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return bad("missing comma")
	}
	var err error
	if lo = strings.TrimSpace(lo); lo != "" {
		if iv.lo, err = strconv.ParseFloat(lo, 64); err != nil || math.IsInf(iv.lo, 0) || math.IsNaN(iv.lo) {
			return bad("lower bound is not a finite number")
		}
		iv.hasLo = true
	} else if !iv.loOpen {
		return bad("an unbounded side needs a parenthesis")
	}
	if hi = strings.TrimSpace(hi); hi != "" {
		if iv.hi, err = strconv.ParseFloat(hi, 64); err != nil || math.IsInf(iv.hi, 0) || math.IsNaN(iv.hi) {
			return bad("upper bound is not a finite number")
		}
		iv.hasHi = true
	} else if !iv.hiOpen {
		return bad("an unbounded side needs a parenthesis")
	}
	if iv.hasLo && iv.hasHi && iv.lo > iv.hi {
		return bad("lower bound exceeds upper bound")
	}
	return iv, nil
}

// contains reports whether the finite value v lies in the interval.
func (iv interval) contains(v float64) bool {
	if iv.hasLo && (v < iv.lo || iv.loOpen && v == iv.lo) {
		return false
	}
	if iv.hasHi && (v > iv.hi || iv.hiOpen && v == iv.hi) {
		return false
	}
	return true
}

// String prints the interval as a user reads it: "[0, 1]", "(0, +inf)".
func (iv interval) String() string {
	var b strings.Builder
	if iv.loOpen {
		b.WriteByte('(')
	} else {
		b.WriteByte('[')
	}
	if iv.hasLo {
		b.WriteString(strconv.FormatFloat(iv.lo, 'g', -1, 64))
	} else {
		b.WriteString("-inf")
	}
	b.WriteString(", ")
	if iv.hasHi {
		b.WriteString(strconv.FormatFloat(iv.hi, 'g', -1, 64))
	} else {
		b.WriteString("+inf")
	}
	if iv.hiOpen {
		b.WriteByte(')')
	} else {
		b.WriteByte(']')
	}
	return b.String()
}

// Field is one setting: a struct field plus everything its tags say.
type Field struct {
	key    string
	index  int // position in the struct, for reflect.Value.Field
	kind   kind
	doc    string
	def    reflect.Value // parsed default
	rng    *interval     // nil: any value of the kind
	enum   []string      // nil: any string
	minLen int           // minimum string length or array length
}

// Key is the field's TOML key.
func (f *Field) Key() string { return f.key }

// Doc is the field's one-line description.
func (f *Field) Doc() string { return f.doc }

// Default is the field's parsed default tag.
func (f *Field) Default() reflect.Value { return f.def }

// parseField reads the tags of one struct field, the index-th of its struct.
// The default is parsed and checked against the field's own constraints
// here, so a bad default fails when the package loads.
func parseField(sf reflect.StructField, index int) (Field, error) {
	f := Field{index: index}
	var ok bool
	if f.kind, ok = kindOf(sf.Type); !ok {
		return f, fmt.Errorf("unsupported type %s", sf.Type)
	}
	if f.key = sf.Tag.Get("toml"); f.key == "" {
		return f, errors.New("missing toml tag")
	}
	if !isBareKey(f.key) {
		// Encode writes keys unquoted, and -set users should not need quotes.
		return f, fmt.Errorf("toml key %q may only hold letters, digits, '_' and '-'", f.key)
	}
	if f.doc = sf.Tag.Get("doc"); f.doc == "" {
		return f, errors.New("missing doc tag")
	}
	if strings.ContainsAny(f.doc, "\r\n") {
		// Encode writes the doc as a single "# ..." comment line.
		return f, errors.New("doc tag spans several lines")
	}
	if s, ok := sf.Tag.Lookup("range"); ok {
		if !f.kind.numeric() {
			return f, errors.New("range tag is only for numeric and []int fields")
		}
		iv, err := parseInterval(s)
		if err != nil {
			return f, err
		}
		f.rng = &iv
	}
	if s, ok := sf.Tag.Lookup("enum"); ok {
		if f.kind != kindString {
			return f, errors.New("enum tag is only for string fields")
		}
		for v := range strings.SplitSeq(s, ",") {
			if v = strings.TrimSpace(v); v == "" {
				return f, fmt.Errorf("empty choice in enum %q", s)
			}
			f.enum = append(f.enum, v)
		}
	}
	if s, ok := sf.Tag.Lookup("minlen"); ok {
		if f.kind != kindString && f.kind != kindIntList {
			return f, errors.New("minlen tag is only for string and []int fields")
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return f, fmt.Errorf("minlen %q is not a non-negative integer", s)
		}
		f.minLen = n
	}
	s, ok := sf.Tag.Lookup("default")
	if !ok {
		return f, errors.New("missing default tag")
	}
	v, err := f.ParseText(s)
	if err != nil {
		return f, fmt.Errorf("default: %w", err)
	}
	if err := f.Check(v); err != nil {
		return f, fmt.Errorf("default: %w", err)
	}
	f.def = v
	return f, nil
}

// isBareKey reports whether TOML accepts key without quotes.
func isBareKey(key string) bool {
	for _, r := range key {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ParseText converts command-line text (a -set value or a default tag) to a
// value of the field's kind.
func (f *Field) ParseText(s string) (reflect.Value, error) {
	bad := func() (reflect.Value, error) {
		return reflect.Value{}, fmt.Errorf("key %q: expected %s, got %q", f.key, f.kind.expected(), s)
	}
	switch f.kind {
	case kindString:
		return reflect.ValueOf(s), nil
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad()
		}
		return reflect.ValueOf(b), nil
	case kindInt:
		n, err := strconv.ParseInt(s, 10, strconv.IntSize)
		if err != nil {
			return bad()
		}
		return reflect.ValueOf(int(n)), nil
	case kindInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bad()
		}
		return reflect.ValueOf(n), nil
	case kindFloat:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad()
		}
		return reflect.ValueOf(x), nil
	case kindIntList:
		// Accept "64,64" and the TOML spelling "[64, 64]" alike.
		inner := strings.TrimSpace(s)
		if strings.HasPrefix(inner, "[") && strings.HasSuffix(inner, "]") {
			inner = strings.TrimSpace(inner[1 : len(inner)-1])
		}
		list := []int{}
		if inner == "" {
			return reflect.ValueOf(list), nil
		}
		for part := range strings.SplitSeq(inner, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(part), 10, strconv.IntSize)
			if err != nil {
				return bad()
			}
			list = append(list, int(n))
		}
		return reflect.ValueOf(list), nil
	}
	return bad()
}

// FromTOML converts a value decoded by the TOML parser (string, int64,
// float64, bool, []any, map[string]any, or a date-time) to the field's kind.
func (f *Field) FromTOML(raw any) (reflect.Value, error) {
	bad := func(got any) (reflect.Value, error) {
		return reflect.Value{}, fmt.Errorf("key %q: expected %s, got %s", f.key, f.kind.expected(), describe(got))
	}
	switch f.kind {
	case kindString:
		if s, ok := raw.(string); ok {
			return reflect.ValueOf(s), nil
		}
	case kindBool:
		if b, ok := raw.(bool); ok {
			return reflect.ValueOf(b), nil
		}
	case kindInt:
		if n, ok := raw.(int64); ok {
			if int64(int(n)) != n {
				return reflect.Value{}, fmt.Errorf("key %q: integer %d does not fit in %d bits", f.key, n, strconv.IntSize)
			}
			return reflect.ValueOf(int(n)), nil
		}
	case kindInt64:
		if n, ok := raw.(int64); ok {
			return reflect.ValueOf(n), nil
		}
	case kindFloat:
		switch x := raw.(type) {
		case float64:
			return reflect.ValueOf(x), nil
		case int64:
			// People write "clip_obs = 10"; TOML calls that an integer but
			// the meaning is unambiguous.
			return reflect.ValueOf(float64(x)), nil
		}
	case kindIntList:
		elems, ok := raw.([]any)
		if !ok {
			break
		}
		list := make([]int, 0, len(elems))
		for i, e := range elems {
			n, ok := e.(int64)
			if !ok {
				return reflect.Value{}, fmt.Errorf("key %q: expected %s, got %s at index %d", f.key, f.kind.expected(), describe(e), i)
			}
			if int64(int(n)) != n {
				return reflect.Value{}, fmt.Errorf("key %q: integer %d at index %d does not fit in %d bits", f.key, n, i, strconv.IntSize)
			}
			list = append(list, int(n))
		}
		return reflect.ValueOf(list), nil
	}
	return bad(raw)
}

// describe names a decoded TOML value for type errors: `string "four"`.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string " + quote(x)
	case int64:
		return "integer " + strconv.FormatInt(x, 10)
	case float64:
		return "float " + formatFloat(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case []any:
		return "array"
	case map[string]any:
		return "table"
	default:
		// TOML's date-time kinds all decode to time.Time, whose printed form
		// would not match what the user wrote; the kind alone says enough.
		return "datetime"
	}
}

// Check enforces the field's own constraints (range, enum, minlen) on v.
// Constraints across fields are the caller's (its Validate).
func (f *Field) Check(v reflect.Value) error {
	switch f.kind {
	case kindString:
		s := v.String()
		if utf8.RuneCountInString(s) < f.minLen {
			return fmt.Errorf("key %q = %s must have at least %d character%s", f.key, quote(s), f.minLen, plural(f.minLen))
		}
		if f.enum != nil && !slices.Contains(f.enum, s) {
			return fmt.Errorf("key %q = %s must be one of %s", f.key, quote(s), strings.Join(f.enum, ", "))
		}
	case kindInt, kindInt64:
		if f.rng != nil && !f.rng.contains(float64(v.Int())) {
			return fmt.Errorf("key %q = %d is out of range %s", f.key, v.Int(), f.rng)
		}
	case kindFloat:
		// No setting is meaningfully infinite, and NaN would slip through
		// every comparison, so both are rejected before the range check.
		x := v.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("key %q = %s must be a finite number", f.key, formatFloat(x))
		}
		if f.rng != nil && !f.rng.contains(x) {
			return fmt.Errorf("key %q = %s is out of range %s", f.key, formatFloat(x), f.rng)
		}
	case kindIntList:
		if v.Len() < f.minLen {
			return fmt.Errorf("key %q = %s must have at least %d element%s", f.key, Literal(v), f.minLen, plural(f.minLen))
		}
		if f.rng != nil {
			for i := range v.Len() {
				if n := v.Index(i).Int(); !f.rng.contains(float64(n)) {
					return fmt.Errorf("key %q element %d = %d is out of range %s", f.key, i, n, f.rng)
				}
			}
		}
	}
	return nil
}

// Allowed describes the accepted values for docs: "[0, 1]", "one of a, b".
func (f *Field) Allowed() string {
	var parts []string
	if f.enum != nil {
		parts = append(parts, "one of "+strings.Join(f.enum, ", "))
	}
	if f.rng != nil {
		if f.kind == kindIntList {
			parts = append(parts, "each "+f.rng.String())
		} else {
			parts = append(parts, f.rng.String())
		}
	}
	if f.minLen > 0 {
		unit := "character"
		if f.kind == kindIntList {
			unit = "element"
		}
		parts = append(parts, fmt.Sprintf("at least %d %s%s", f.minLen, unit, plural(f.minLen)))
	}
	return strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
