package expr

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/hookd/hookd"
)

// BodyVars are the variables of a body expression for one attempt.
type BodyVars struct {
	Event      *hookd.Event
	Attempt    AttemptVars
	EndpointID string
	// Tenant defaults to Event.Tenant when empty.
	Tenant string
}

// AttemptVars describe the attempt a body is rendered for.
type AttemptVars struct {
	ID        string
	Number    int       // 1 for the first attempt
	Timestamp time.Time // when this attempt is made
	RetryOf   string    // the previous attempt's ID; empty on the first
}

// state is the activation of one evaluation: it resolves the variables
// straight from the Go values it was given, so an evaluation builds no map of
// variables and decodes event.data only if the expression reads it.
type state struct {
	ev         *hookd.Event
	tenant     string
	attempt    AttemptVars
	endpointID string

	data    ref.Val // decoded event.data, once read
	dataErr error

	// The budget of this evaluation (see programOptions).
	iterations int
	deadline   time.Time
	memory     int
	stopped    error // the limit that stopped it, if one did
}

func (s *state) reset() { *s = state{} }

// ResolveName implements interpreter.Activation.
func (s *state) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return eventObj{s}, true
	case "tenant":
		return types.String(s.tenant), true
	case "attempt":
		return attemptObj{s}, true
	case "endpoint":
		return endpointObj{s}, true
	case "#interrupted":
		// Asked by every comprehension iteration when the program was
		// planned with cel.InterruptCheckFrequency.
		return s.interrupted(), true
	}
	return nil, false
}

func (s *state) interrupted() bool {
	if s.stopped != nil {
		return true
	}
	s.iterations++
	switch {
	case s.iterations > MaxIterations:
		s.stopped = fmt.Errorf("more than %d iterations: %w", MaxIterations, ErrLimit)
	case s.iterations%clockEvery == 0:
		s.checkClock()
	}
	return s.stopped != nil
}

func (s *state) checkClock() {
	if s.stopped == nil && time.Now().After(s.deadline) {
		s.stopped = fmt.Errorf("ran longer than %s: %w", MaxEvalTime, ErrLimit)
	}
}

// charge records n bytes built by the evaluation.
func (s *state) charge(n int) error {
	s.memory += n
	if s.memory > MaxEvalMemory && s.stopped == nil {
		s.stopped = fmt.Errorf("built more than %d bytes: %w", MaxEvalMemory, ErrLimit)
	}
	return s.stopped
}

// Parent implements interpreter.Activation.
func (s *state) Parent() interpreter.Activation { return nil }

// eventData decodes event.data on first use.
func (s *state) eventData() (ref.Val, error) {
	if s.data == nil && s.dataErr == nil {
		s.data, s.dataErr = decodeData(s.ev.Data)
	}
	return s.data, s.dataErr
}

// The three object types. Their CEL type names are what type(event) and
// error messages show.
const (
	eventTypeName    = "hookd.Event"
	attemptTypeName  = "hookd.Attempt"
	endpointTypeName = "hookd.Endpoint"
)

var (
	eventType    = types.NewObjectType(eventTypeName)
	attemptType  = types.NewObjectType(attemptTypeName)
	endpointType = types.NewObjectType(endpointTypeName)
)

// field is one field of an object type: its CEL type, how to read it from
// the state, and when has() holds (a non-zero value, as for proto3).
type field struct {
	name  string
	typ   *types.Type
	get   func(*state) (ref.Val, error)
	isSet func(*state) bool
}

var eventFields = []field{
	{"id", types.StringType,
		func(s *state) (ref.Val, error) { return types.String(s.ev.ID), nil },
		func(s *state) bool { return s.ev.ID != "" }},
	{"seq", types.IntType,
		func(s *state) (ref.Val, error) { return types.Int(s.ev.Seq), nil },
		func(s *state) bool { return s.ev.Seq != 0 }},
	{"type", types.StringType,
		func(s *state) (ref.Val, error) { return types.String(s.ev.Type), nil },
		func(s *state) bool { return s.ev.Type != "" }},
	{"occurred_at", types.TimestampType,
		func(s *state) (ref.Val, error) { return types.Timestamp{Time: s.ev.OccurredAt.UTC()}, nil },
		func(s *state) bool { return !s.ev.OccurredAt.IsZero() }},
	{"data", types.DynType,
		func(s *state) (ref.Val, error) { return s.eventData() },
		func(s *state) bool {
			d := bytes.TrimSpace(s.ev.Data)
			return len(d) > 0 && !bytes.Equal(d, []byte("null"))
		}},
}

var attemptFields = []field{
	{"id", types.StringType,
		func(s *state) (ref.Val, error) { return types.String(s.attempt.ID), nil },
		func(s *state) bool { return s.attempt.ID != "" }},
	{"number", types.IntType,
		func(s *state) (ref.Val, error) { return types.Int(s.attempt.Number), nil },
		func(s *state) bool { return s.attempt.Number != 0 }},
	{"timestamp", types.TimestampType,
		func(s *state) (ref.Val, error) { return types.Timestamp{Time: s.attempt.Timestamp.UTC()}, nil },
		func(s *state) bool { return !s.attempt.Timestamp.IsZero() }},
	{"retry_of", types.StringType,
		func(s *state) (ref.Val, error) { return types.String(s.attempt.RetryOf), nil },
		func(s *state) bool { return s.attempt.RetryOf != "" }},
}

var endpointFields = []field{
	{"id", types.StringType,
		func(s *state) (ref.Val, error) { return types.String(s.endpointID), nil },
		func(s *state) bool { return s.endpointID != "" }},
}

func lookupField(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// object is the shared implementation of the three object values. Each is
// a pointer-sized struct, so handing one to the interpreter allocates
// nothing; field selection goes through the provider's FieldType.GetFrom,
// which receives Value(), the state.
type object struct {
	s      *state
	typ    *types.Type
	fields []field
}

// objVal is one of the three object values; its type parameter, a
// zero-size kind, says which, so the three share their methods and each
// stays a single pointer.
type objVal[K objKind] struct{ s *state }

type objKind interface {
	typ() *types.Type
	fields() []field
}

type (
	eventKind    struct{}
	attemptKind  struct{}
	endpointKind struct{}

	eventObj    = objVal[eventKind]
	attemptObj  = objVal[attemptKind]
	endpointObj = objVal[endpointKind]
)

func (eventKind) typ() *types.Type    { return eventType }
func (eventKind) fields() []field     { return eventFields }
func (attemptKind) typ() *types.Type  { return attemptType }
func (attemptKind) fields() []field   { return attemptFields }
func (endpointKind) typ() *types.Type { return endpointType }
func (endpointKind) fields() []field  { return endpointFields }

func (o objVal[K]) obj() object {
	var k K
	return object{o.s, k.typ(), k.fields()}
}

var errNoNative = errors.New("hookd objects have no native form")

func (o object) convertToType(t ref.Type) ref.Val {
	switch t {
	case o.typ:
		return nil // caller returns itself
	case types.TypeType:
		return o.typ
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.typ, t)
}

func (o object) get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such overload")
	}
	f := lookupField(o.fields, string(name))
	if f == nil {
		return types.NewErr("no such field '%s' on %s", name, o.typ)
	}
	v, err := f.get(o.s)
	if err != nil {
		return types.WrapErr(err)
	}
	return v
}

func (o object) isSet(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such overload")
	}
	f := lookupField(o.fields, string(name))
	if f == nil {
		return types.NewErr("no such field '%s' on %s", name, o.typ)
	}
	return types.Bool(f.isSet(o.s))
}

func (o objVal[K]) ConvertToNative(reflect.Type) (any, error) { return nil, errNoNative }
func (o objVal[K]) ConvertToType(t ref.Type) ref.Val {
	if v := o.obj().convertToType(t); v != nil {
		return v
	}
	return o
}
func (o objVal[K]) Equal(other ref.Val) ref.Val {
	p, ok := other.(objVal[K])
	return types.Bool(ok && p.s == o.s)
}
func (o objVal[K]) Type() ref.Type              { var k K; return k.typ() }
func (o objVal[K]) Value() any                  { return o.s }
func (o objVal[K]) Get(index ref.Val) ref.Val   { return o.obj().get(index) }
func (o objVal[K]) IsSet(field ref.Val) ref.Val { return o.obj().isSet(field) }

// provider adds the three object types to CEL's default registry.
type provider struct {
	*types.Registry
}

func (p provider) fieldsOf(typeName string) ([]field, bool) {
	switch typeName {
	case eventTypeName:
		return eventFields, true
	case attemptTypeName:
		return attemptFields, true
	case endpointTypeName:
		return endpointFields, true
	}
	return nil, false
}

// FindIdent implements types.Provider.
func (p provider) FindIdent(name string) (ref.Val, bool) {
	switch name {
	case eventTypeName:
		return eventType, true
	case attemptTypeName:
		return attemptType, true
	case endpointTypeName:
		return endpointType, true
	}
	return p.Registry.FindIdent(name)
}

// FindStructType implements types.Provider.
func (p provider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.fieldsOf(name); ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p provider) FindStructFieldNames(name string) ([]string, bool) {
	fields, ok := p.fieldsOf(name)
	if !ok {
		return p.Registry.FindStructFieldNames(name)
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names, true
}

// FindStructFieldType implements types.Provider.
func (p provider) FindStructFieldType(typeName, fieldName string) (*types.FieldType, bool) {
	fields, ok := p.fieldsOf(typeName)
	if !ok {
		return p.Registry.FindStructFieldType(typeName, fieldName)
	}
	f := lookupField(fields, fieldName)
	if f == nil {
		return nil, false
	}
	return &types.FieldType{
		Type: f.typ,
		IsSet: func(target any) bool {
			s, ok := target.(*state)
			return ok && f.isSet(s)
		},
		GetFrom: func(target any) (any, error) {
			s, ok := target.(*state)
			if !ok {
				return nil, fmt.Errorf("no such field '%s' on %T", f.name, target)
			}
			return f.get(s)
		},
	}, true
}

// NewValue implements types.Provider: the hookd objects are read-only.
func (p provider) NewValue(typeName string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.fieldsOf(typeName); ok {
		return types.NewErr("%s values cannot be constructed", typeName)
	}
	return p.Registry.NewValue(typeName, fields)
}
