package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// MaxDataDepth bounds the nesting of event data an expression may read.
// Deeper data is refused rather than truncated, so an expression never sees
// a value that is not the one published.
const MaxDataDepth = 64

// smallObject is the member count up to which an object is searched
// linearly rather than through a map.
const smallObject = 16

var errDataDepth = fmt.Errorf("nested deeper than %d levels", MaxDataDepth)

// decodeData makes an event's JSON data a CEL value, lazily: a filter
// reading event.data.amount scans the top-level object once, skipping
// over nested values, and parses only "amount". Objects and arrays are
// indexed on first use and remember the values read from them, so a loop
// re-reading a field pays once. Objects become maps, arrays lists,
// integers that fit int64 ints and other numbers doubles; a duplicate key
// keeps its last value and invalid UTF-8 reads as U+FFFD, as with
// encoding/json. Every object and array keeps its bytes, so a body placing
// one in its output copies them instead of re-encoding the value.
//
// The data must be valid JSON, as publishing guarantees; damage is
// reported as an error where an expression reaches it, never a panic.
// The values live for one evaluation and do not share memory with raw.
func decodeData(raw json.RawMessage) (ref.Val, error) {
	start, end := skipSpace(raw, 0), len(raw)
	for end > start && isSpace(raw[end-1]) {
		end--
	}
	if start == end {
		return types.NullValue, nil
	}
	// No separate validation pass: an object or array checks that its
	// closing bracket ends its span when it is first indexed, and a
	// scalar that it fills its span.
	v := jsonValue(raw[start:end], 1)
	if err, ok := v.(*types.Err); ok {
		return nil, err
	}
	return v, nil
}

// jsonValue converts one JSON value (a span without surrounding space):
// scalars now, objects and arrays as lazy views.
func jsonValue(raw []byte, depth int) ref.Val {
	switch raw[0] {
	case '{':
		if depth > MaxDataDepth {
			return types.NewErr("event data: %v", errDataDepth)
		}
		return &jsonObject{raw: raw, depth: depth}
	case '[':
		if depth > MaxDataDepth {
			return types.NewErr("event data: %v", errDataDepth)
		}
		return &jsonArray{raw: raw, depth: depth}
	case 't', 'f', 'n':
		switch string(raw) {
		case "true":
			return types.True
		case "false":
			return types.False
		case "null":
			return types.NullValue
		}
	case '"':
		p := jsonParser{data: raw}
		s, err := p.string()
		if err != nil || p.i != len(raw) {
			return types.NewErr("event data: bad string")
		}
		return types.String(s)
	default:
		p := jsonParser{data: raw}
		n, err := p.number()
		if err != nil || p.i != len(raw) {
			return types.NewErr("event data: bad value %q", truncate(raw))
		}
		if i, ok := n.(int64); ok {
			return types.Int(i)
		}
		return types.Double(n.(float64))
	}
	return types.NewErr("event data: bad value %q", truncate(raw))
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// closed checks that the bracket at b[i] ends the span b.
func closed(b []byte, i int) error {
	if i+1 != len(b) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// skipValue returns the end of the JSON value starting at b[i]. It checks
// the structure (strings closed, brackets balanced and matched) but not
// the scalars, which jsonValue checks when they are read.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("unexpected end of JSON")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		// Iterative, with a stack of open brackets: nesting is not
		// bounded here (MaxDataDepth applies when a level is read), so
		// recursion would be.
		var stackBuf [32]byte
		stack := stackBuf[:0]
		for i < len(b) {
			switch c := b[i]; c {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				stack = append(stack, c)
			case '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != c-2 { // '{'+2 == '}', '['+2 == ']'
					return 0, errors.New("mismatched bracket in JSON")
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errors.New("unexpected end of JSON")
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			if i == start {
				return 0, errors.New("unexpected character in JSON")
			}
			return i, nil
		}
		i++
	}
	return i, nil
}

// skipString returns the end of the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errors.New("unterminated string in JSON")
}

// jsonObject is a JSON object seen as a CEL map with string keys.
type jsonObject struct {
	raw     []byte
	depth   int
	indexed bool
	err     error
	members []member       // one per key
	lookup  map[string]int // members by key, for large objects
}

type member struct {
	key []byte // decoded
	raw []byte
	val ref.Val // once read
}

func (o *jsonObject) index() error {
	if o.indexed {
		return o.err
	}
	o.indexed = true
	if err := o.build(); err != nil {
		o.err = fmt.Errorf("event data: %w", err)
	}
	return o.err
}

func (o *jsonObject) build() error {
	// Members gather on the stack and are then copied once at their
	// final size: one allocation per object read.
	var buf [smallObject]member
	members := buf[:0]
	defer func() {
		o.members = slices.Clone(members)
		o.dedupe()
	}()
	b := o.raw
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return closed(b, i)
	}
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return errors.New("expected a key in JSON object")
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			p := jsonParser{data: b[i:end]}
			s, err := p.string()
			if err != nil {
				return err
			}
			key = []byte(s)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("expected ':' in JSON object")
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return err
		}
		members = append(members, member{key: key, raw: b[i:vend]})
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errors.New("unexpected end of JSON object")
		}
		if b[i] == '}' {
			return closed(b, i)
		}
		if b[i] != ',' {
			return errors.New("expected ',' or '}' in JSON object")
		}
		i++
	}
}

// dedupe keeps the last value of a repeated key, as encoding/json does.
func (o *jsonObject) dedupe() {
	if len(o.members) <= smallObject {
		for i := len(o.members) - 1; i > 0; i-- {
			for j := i - 1; j >= 0; j-- {
				if bytes.Equal(o.members[i].key, o.members[j].key) {
					o.members = append(o.members[:j], o.members[j+1:]...)
					i--
				}
			}
		}
		return
	}
	o.lookup = make(map[string]int, len(o.members))
	kept := o.members[:0]
	for _, m := range o.members {
		if at, ok := o.lookup[string(m.key)]; ok {
			kept[at] = m
			continue
		}
		o.lookup[string(m.key)] = len(kept)
		kept = append(kept, m)
	}
	o.members = kept
}

func (o *jsonObject) find(key string) (*member, bool) {
	if o.lookup != nil {
		if at, ok := o.lookup[key]; ok {
			return &o.members[at], true
		}
		return nil, false
	}
	for i := range o.members {
		if string(o.members[i].key) == key {
			return &o.members[i], true
		}
	}
	return nil, false
}

// Find implements traits.Mapper.
func (o *jsonObject) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	if err := o.index(); err != nil {
		return types.WrapErr(err), true
	}
	m, ok := o.find(string(k))
	if !ok {
		return nil, false
	}
	if m.val == nil {
		m.val = jsonValue(m.raw, o.depth+1)
	}
	return m.val, true
}

// Get implements traits.Indexer.
func (o *jsonObject) Get(key ref.Val) ref.Val {
	if v, ok := o.Find(key); ok {
		return v
	}
	return types.ValOrErr(key, "no such key: %v", key)
}

// Contains implements traits.Container.
func (o *jsonObject) Contains(key ref.Val) ref.Val {
	v, ok := o.Find(key)
	if types.IsError(v) {
		return v
	}
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (o *jsonObject) Size() ref.Val {
	if err := o.index(); err != nil {
		return types.WrapErr(err)
	}
	return types.Int(len(o.members))
}

// IsZeroValue implements traits.Zeroer.
func (o *jsonObject) IsZeroValue() bool { return o.Size() == types.Int(0) }

// Iterator implements traits.Iterable over the keys.
func (o *jsonObject) Iterator() traits.Iterator {
	if o.index() != nil {
		return types.NewStringList(types.DefaultTypeAdapter, nil).Iterator()
	}
	keys := make([]string, len(o.members))
	for i, m := range o.members {
		keys[i] = string(m.key)
	}
	return types.NewStringList(types.DefaultTypeAdapter, keys).Iterator()
}

// materialize is the eager form of the object, for the operations that
// need all of it.
func (o *jsonObject) materialize() ref.Val {
	v, err := parseJSON(o.raw)
	if err != nil {
		return types.WrapErr(err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

func (o *jsonObject) ConvertToNative(t reflect.Type) (any, error) {
	return o.materialize().ConvertToNative(t)
}

func (o *jsonObject) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return o
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from 'map' to '%s'", t)
}

func (o *jsonObject) Equal(other ref.Val) ref.Val { return o.materialize().Equal(other) }
func (o *jsonObject) Type() ref.Type              { return types.MapType }
func (o *jsonObject) Value() any                  { return o.materialize().Value() }

// jsonArray is a JSON array seen as a CEL list.
type jsonArray struct {
	raw     []byte
	depth   int
	indexed bool
	err     error
	elems   []member // key unused
}

func (a *jsonArray) index() error {
	if a.indexed {
		return a.err
	}
	a.indexed = true
	if err := a.build(); err != nil {
		a.err = fmt.Errorf("event data: %w", err)
	}
	return a.err
}

func (a *jsonArray) build() error {
	var buf [smallObject]member
	elems := buf[:0]
	defer func() { a.elems = slices.Clone(elems) }()
	b := a.raw
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		return closed(b, i)
	}
	for {
		i = skipSpace(b, i)
		end, err := skipValue(b, i)
		if err != nil {
			return err
		}
		elems = append(elems, member{raw: b[i:end]})
		i = skipSpace(b, end)
		if i >= len(b) {
			return errors.New("unexpected end of JSON array")
		}
		if b[i] == ']' {
			return closed(b, i)
		}
		if b[i] != ',' {
			return errors.New("expected ',' or ']' in JSON array")
		}
		i++
	}
}

func (a *jsonArray) at(i int) ref.Val {
	e := &a.elems[i]
	if e.val == nil {
		e.val = jsonValue(e.raw, a.depth+1)
	}
	return e.val
}

// Get implements traits.Indexer.
func (a *jsonArray) Get(index ref.Val) ref.Val {
	i, err := types.IndexOrError(index)
	if err != nil {
		return types.ValOrErr(index, "%v", err)
	}
	if err := a.index(); err != nil {
		return types.WrapErr(err)
	}
	if i < 0 || i >= len(a.elems) {
		return types.NewErr("index '%d' out of range in list size '%d'", i, len(a.elems))
	}
	return a.at(i)
}

// Size implements traits.Sizer.
func (a *jsonArray) Size() ref.Val {
	if err := a.index(); err != nil {
		return types.WrapErr(err)
	}
	return types.Int(len(a.elems))
}

// IsZeroValue implements traits.Zeroer.
func (a *jsonArray) IsZeroValue() bool { return a.Size() == types.Int(0) }

// Contains implements traits.Container (the in operator).
func (a *jsonArray) Contains(v ref.Val) ref.Val {
	if err := a.index(); err != nil {
		return types.WrapErr(err)
	}
	for i := range a.elems {
		if a.at(i).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}

// Iterator implements traits.Iterable.
func (a *jsonArray) Iterator() traits.Iterator {
	if err := a.index(); err != nil {
		return &arrayIterator{a: &jsonArray{indexed: true}}
	}
	return &arrayIterator{a: a}
}

// Add implements traits.Adder (list concatenation).
func (a *jsonArray) Add(other ref.Val) ref.Val {
	l, ok := a.materialize().(traits.Lister)
	if !ok {
		return a.materialize()
	}
	return l.Add(other)
}

func (a *jsonArray) materialize() ref.Val {
	v, err := parseJSON(a.raw)
	if err != nil {
		return types.WrapErr(err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

func (a *jsonArray) ConvertToNative(t reflect.Type) (any, error) {
	return a.materialize().ConvertToNative(t)
}

func (a *jsonArray) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.ListType:
		return a
	case types.TypeType:
		return types.ListType
	}
	return types.NewErr("type conversion error from 'list' to '%s'", t)
}

func (a *jsonArray) Equal(other ref.Val) ref.Val { return a.materialize().Equal(other) }
func (a *jsonArray) Type() ref.Type              { return types.ListType }
func (a *jsonArray) Value() any                  { return a.materialize().Value() }

type arrayIterator struct {
	a *jsonArray
	i int
}

func (it *arrayIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.a.elems)) }

func (it *arrayIterator) Next() ref.Val {
	if it.i >= len(it.a.elems) {
		return types.NewErr("iterator exhausted")
	}
	it.i++
	return it.a.at(it.i - 1)
}

func (it *arrayIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("type conversion on iterators not supported")
}
func (it *arrayIterator) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *arrayIterator) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *arrayIterator) Type() ref.Type                 { return types.IteratorType }
func (it *arrayIterator) Value() any                     { return nil }
