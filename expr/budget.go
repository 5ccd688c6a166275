package expr

import (
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// chargeDecorator makes the calls that build values pay for them out of
// the evaluation's MaxEvalMemory (and the costly ones check MaxEvalTime).
// CEL's cost model counts list
// concatenation as O(1), since it concatenates lazily, so a chain of
// optMap(l, l + l) could double a list (or, through join, a string) for
// free; here each concatenation is charged before it happens. The string
// functions are charged for their result after it is built; their size
// guards (guardedStrings) already refused anything over MaxStringSize.
func chargeDecorator(i interpreter.Interpretable) (interpreter.Interpretable, error) {
	c, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	switch c.Function() {
	case operators.Add:
		if args := c.Args(); len(args) == 2 {
			return addCall{c, args[0], args[1]}, nil
		}
	case "replace", "join", "format", "strings.quote", "split", "upperAscii", "lowerAscii", "reverse",
		"base64.encode", "base64.decode", "string", "bytes", "matches":
		return chargedCall{c}, nil
	}
	return i, nil
}

// stateOf finds the evaluation's state below the activations that
// comprehensions and the cost tracker stack on top of it.
func stateOf(a interpreter.Activation) *state {
	for a != nil {
		if s, ok := a.(*state); ok {
			return s
		}
		a = a.Parent()
	}
	return nil
}

// listElementCost is what a list element is charged: an interface in a
// slice, and the boxed value behind it when CEL materialises the list.
const listElementCost = 64

// addCall is _+_ evaluated as CEL does (strict in both arguments, then
// traits.Adder), charged before the sum is built: strings and bytes by the
// bytes copied, lists by what an eager copy of the smaller side would cost
// (so that a loop appending one element at a time pays linearly).
type addCall struct {
	interpreter.InterpretableCall
	lhs, rhs interpreter.Interpretable
}

func (c addCall) Eval(act interpreter.Activation) ref.Val {
	l := c.lhs.Eval(act)
	r := c.rhs.Eval(act)
	if types.IsUnknownOrError(l) {
		return l
	}
	if types.IsUnknownOrError(r) {
		return r
	}
	adder, ok := l.(traits.Adder)
	if !ok {
		return types.MaybeNoSuchOverloadErr(l)
	}
	if n := addSize(l, r); n > 0 {
		if s := stateOf(act); s != nil {
			if n >= 4<<10 {
				// Large operands: CEL may copy them again when they
				// are read (a concatenated list materialises on
				// Value()), so a long chain is also a slow one.
				s.checkClock()
			}
			if err := s.charge(n); err != nil {
				return types.WrapErr(err)
			}
		}
	}
	return adder.Add(r)
}

func addSize(l, r ref.Val) int {
	switch a := l.(type) {
	case types.String:
		if b, ok := r.(types.String); ok {
			return len(a) + len(b)
		}
	case types.Bytes:
		if b, ok := r.(types.Bytes); ok {
			return len(a) + len(b)
		}
	case traits.Lister:
		if b, ok := r.(traits.Lister); ok {
			return listElementCost * int(min(sizeOf(a), sizeOf(b)))
		}
	}
	return 0
}

// chargedCall charges the size of its result and looks at the clock: these
// are the calls whose cost grows with their input (a regular expression
// built from event data is compiled at every call).
type chargedCall struct {
	interpreter.InterpretableCall
}

func (c chargedCall) Eval(act interpreter.Activation) ref.Val {
	v := c.InterpretableCall.Eval(act)
	var n int
	switch t := v.(type) {
	case types.String:
		n = len(t)
	case types.Bytes:
		n = len(t)
	case traits.Lister:
		n = listElementCost * int(sizeOf(t))
	}
	if s := stateOf(act); s != nil {
		s.checkClock()
		if err := s.charge(n); err != nil {
			return types.WrapErr(err)
		}
	}
	return v
}

func sizeOf(v ref.Val) uint64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 0
}
