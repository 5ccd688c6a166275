package expr

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/hookd/hookd"
)

// Filter is a compiled filter expression. It is immutable and safe for
// concurrent use; a nil *Filter matches every event.
type Filter struct{ p *program }

var filters = newLRU[*Filter](cacheSize)

// statePool recycles activations, so that an evaluation allocates only what
// the expression itself builds.
var statePool = sync.Pool{New: func() any { return new(state) }}

// CompileFilter compiles a filter: a CEL expression over event (id, seq,
// type, occurred_at, data) and tenant that must evaluate to a bool, e.g.
// `event.type.startsWith("order.") && event.data.amount > 100`. An
// expression of type dyn (event.data.flag) is accepted and must yield a
// bool at run time. The empty string compiles to a nil filter, which
// matches everything. A bad expression is a *hookd.Error EINVALID whose
// field is "filter" and whose message is CEL's.
//
// Results are cached by source text, so calling CompileFilter on every
// fan-out costs a map lookup.
func CompileFilter(src string) (*Filter, error) {
	if src == "" {
		return nil, nil
	}
	if f, ok := filters.get(src); ok {
		return f, nil
	}
	env, _, err := environments()
	if err != nil {
		return nil, fmt.Errorf("expr: %w", err)
	}
	p, _, err := compile(env, "filter", src, func(a *cel.Ast) string {
		switch t := a.OutputType(); {
		case t.IsExactType(types.BoolType), t.IsExactType(types.DynType):
			return ""
		default:
			return fmt.Sprintf("must evaluate to a bool, not %s", t)
		}
	})
	if err != nil {
		return nil, err
	}
	return filters.add(src, &Filter{p}), nil
}

// Source returns the expression's text.
func (f *Filter) Source() string {
	if f == nil {
		return ""
	}
	return f.p.src
}

// Match reports whether ev passes the filter. An error (a missing key, a
// type mismatch, a limit) comes with false: the event does not match, and
// the error says why for the log.
func (f *Filter) Match(ev *hookd.Event) (bool, error) {
	if f == nil {
		return true, nil
	}
	if ev == nil {
		return false, errors.New("filter: no event")
	}
	s := statePool.Get().(*state)
	s.ev, s.tenant = ev, ev.Tenant
	out, err := f.p.eval(s)
	s.reset()
	statePool.Put(s)
	if err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("filter: evaluated to %s, not a bool", out.Type().TypeName())
	}
	return bool(b), nil
}
