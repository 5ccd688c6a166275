package expr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// maxRenderDepth bounds the nesting of a rendered body: the data's own
// depth plus what an expression can wrap around it.
const maxRenderDepth = MaxDataDepth + maxParseRecursion

// renderer writes CEL values as JSON into buf. See the package doc for the
// mapping; what has no JSON form (types, unknowns, NaN) is an error rather
// than a guess.
type renderer struct {
	buf   *bytes.Buffer
	order []string // key order of the top-level map literal
	keys  []mapKey // scratch, reused across maps
}

type mapKey struct {
	name string
	key  ref.Val
}

func (r *renderer) full() error {
	if r.buf.Len() > MaxBodySize {
		return errBodySize
	}
	return nil
}

var errBodySize = fmt.Errorf("body larger than %d bytes: %w", MaxBodySize, ErrLimit)

func (r *renderer) value(v ref.Val, depth int) error {
	if depth > maxRenderDepth {
		return fmt.Errorf("body nested deeper than %d levels", maxRenderDepth)
	}
	b := r.buf.AvailableBuffer()
	switch t := v.(type) {
	case types.Null:
		b = append(b, "null"...)
	case types.Bool:
		b = strconv.AppendBool(b, bool(t))
	case types.Int:
		b = strconv.AppendInt(b, int64(t), 10)
	case types.Uint:
		b = strconv.AppendUint(b, uint64(t), 10)
	case types.Double:
		f := float64(t)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%v has no JSON form", f)
		}
		b = appendFloat(b, f)
	case types.String:
		if r.buf.Len()+len(t) > MaxBodySize {
			return errBodySize
		}
		b = appendString(b, string(t))
	case types.Bytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, t)
		b = append(b, '"')
	case types.Timestamp:
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	case types.Duration:
		b = appendString(b, t.Duration.String())
	case *types.Optional:
		if t.HasValue() {
			return r.value(t.GetValue(), depth)
		}
		b = append(b, "null"...)
	case *jsonObject:
		return r.raw(t.raw)
	case *jsonArray:
		return r.raw(t.raw)
	case interface{ obj() object }: // event, attempt, endpoint
		return r.object(t.obj(), depth)
	case traits.Mapper:
		return r.mapping(t, depth)
	case traits.Lister:
		return r.list(t, depth)
	default:
		if types.IsError(v) {
			return v.(*types.Err)
		}
		return fmt.Errorf("a value of type %s has no JSON form", v.Type().TypeName())
	}
	r.buf.Write(b)
	return r.full()
}

// raw copies event data as stored, compacted; json.Compact also proves it
// is one valid JSON value, so a bad stored value cannot corrupt a body.
func (r *renderer) raw(data json.RawMessage) error {
	if r.buf.Len()+len(data) > MaxBodySize {
		return errBodySize
	}
	if len(bytes.TrimSpace(data)) == 0 {
		r.buf.WriteString("null")
		return nil
	}
	// jsontext compacts in place about four times as fast as
	// encoding/json.Compact (1.1 vs 4.5 µs for 1 KiB here); it also
	// leaves strings as they are and accepts what json.Valid accepts.
	start := r.buf.Len()
	r.buf.Write(data)
	v := jsontext.Value(r.buf.Bytes()[start:])
	if err := v.Compact(); err != nil {
		r.buf.Truncate(start)
		return fmt.Errorf("event data: %w", err)
	}
	r.buf.Truncate(start)
	r.buf.Write(v) // in place unless Compact had to move it
	return nil
}

func (r *renderer) list(l traits.Lister, depth int) error {
	r.buf.WriteByte('[')
	first := true
	for it := l.Iterator(); it.HasNext() == types.True; {
		if !first {
			r.buf.WriteByte(',')
		}
		first = false
		if err := r.value(it.Next(), depth+1); err != nil {
			return err
		}
	}
	r.buf.WriteByte(']')
	return nil
}

func (r *renderer) mapping(m traits.Mapper, depth int) error {
	start := len(r.keys)
	defer func() { r.keys = r.keys[:start] }()
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		name, ok := keyName(k)
		if !ok {
			return fmt.Errorf("a map key of type %s has no JSON form", k.Type().TypeName())
		}
		r.keys = append(r.keys, mapKey{name, k})
	}
	keys := r.keys[start:]
	order := r.order
	r.order = nil // only the outermost map follows the literal's order
	rank := func(name string) int {
		if i := slices.Index(order, name); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(keys, func(a, b mapKey) int {
		if ra, rb := rank(a.name), rank(b.name); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.name, b.name)
	})
	r.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			if keys[i-1].name == k.name {
				return fmt.Errorf("map key %q appears twice once converted to a string", k.name)
			}
			r.buf.WriteByte(',')
		}
		r.buf.Write(appendString(r.buf.AvailableBuffer(), k.name))
		r.buf.WriteByte(':')
		v, found := m.Find(k.key)
		if !found {
			return fmt.Errorf("map key %q vanished", k.name)
		}
		if err := r.value(v, depth+1); err != nil {
			return err
		}
	}
	r.buf.WriteByte('}')
	return nil
}

// keyName is the JSON name of a CEL map key.
func keyName(k ref.Val) (string, bool) {
	switch t := k.(type) {
	case types.String:
		return string(t), true
	case types.Int:
		return strconv.FormatInt(int64(t), 10), true
	case types.Uint:
		return strconv.FormatUint(uint64(t), 10), true
	case types.Bool:
		return strconv.FormatBool(bool(t)), true
	}
	return "", false
}

// object writes a hookd object as a JSON object of its fields, in their
// declared order.
func (r *renderer) object(o object, depth int) error {
	r.buf.WriteByte('{')
	for i, f := range o.fields {
		if i > 0 {
			r.buf.WriteByte(',')
		}
		r.buf.Write(appendString(r.buf.AvailableBuffer(), f.name))
		r.buf.WriteByte(':')
		v, err := f.get(o.s)
		if err != nil {
			return err
		}
		if err := r.value(v, depth+1); err != nil {
			return err
		}
	}
	r.buf.WriteByte('}')
	return nil
}

// appendFloat formats f as encoding/json does: the shortest representation,
// integers without a fraction, exponents only for very large or small
// magnitudes.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as JavaScript prints it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// U+2028 and U+2029 are escaped, as encoding/json does; <, > and & are
// left alone, since bodies are not embedded in HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
