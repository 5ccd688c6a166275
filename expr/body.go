package expr

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/hookd/hookd"
)

// DefaultBodySource is the body sent when an endpoint names none, written
// as the expression it is equivalent to: the Standard Webhooks payload.
const DefaultBodySource = `{"id": event.id, "type": event.type, "timestamp": event.occurred_at, "data": event.data}`

// Body is a compiled body expression. It is immutable and safe for
// concurrent use; a nil *Body renders the default body.
type Body struct {
	p     *program
	order []string // keys of the top-level map literal, as written
}

var bodies = newLRU[*Body](cacheSize)

// renderers are pooled with their buffers, so that rendering allocates
// only the returned copy and what the expression builds.
var renderers = sync.Pool{New: func() any { return &renderer{buf: new(bytes.Buffer)} }}

// CompileBody compiles a body: a CEL expression over event, attempt (id,
// number, timestamp, retry_of), endpoint (id) and tenant whose value,
// rendered as JSON, is sent instead of the default body. The empty string
// compiles to a nil *Body, the default. A bad expression is a *hookd.Error
// EINVALID whose field is "body" and whose message is CEL's. Results are
// cached by source text.
func CompileBody(src string) (*Body, error) {
	if src == "" {
		return nil, nil
	}
	if b, ok := bodies.get(src); ok {
		return b, nil
	}
	_, env, err := environments()
	if err != nil {
		return nil, fmt.Errorf("expr: %w", err)
	}
	p, checked, err := compile(env, "body", src, func(a *cel.Ast) string {
		switch t := a.OutputType(); t.Kind() {
		case types.TypeKind, types.OpaqueKind, types.ErrorKind, types.UnknownKind:
			return fmt.Sprintf("must evaluate to a JSON value, not %s", t)
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	return bodies.add(src, &Body{p: p, order: literalKeys(checked)}), nil
}

// literalKeys returns the constant keys of the expression's
// top-level map literal in the order written, so that a body reads as its
// author wrote it.
func literalKeys(a *cel.Ast) []string {
	root := a.NativeRep().Expr()
	if root.Kind() != ast.MapKind {
		return nil
	}
	var keys []string
	for _, e := range root.AsMap().Entries() {
		if k := e.AsMapEntry().Key(); k.Kind() == ast.LiteralKind {
			if name, ok := keyName(k.AsLiteral()); ok {
				keys = append(keys, name)
			}
		}
	}
	return keys
}

// Source returns the expression's text, or "" for the default body.
func (b *Body) Source() string {
	if b == nil {
		return ""
	}
	return b.p.src
}

// Render returns the JSON body to send for one attempt.
func (b *Body) Render(v BodyVars) ([]byte, error) {
	if v.Event == nil {
		return nil, errors.New("body: no event")
	}
	r := renderers.Get().(*renderer)
	defer func() {
		if r.buf.Cap() <= 64<<10 { // keep the pool from holding large bodies
			r.buf.Reset()
			r.keys, r.order = r.keys[:0], nil
			renderers.Put(r)
		}
	}()
	buf := r.buf
	if b == nil {
		if err := renderDefault(r, v.Event); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		return bytes.Clone(buf.Bytes()), nil
	}
	s := statePool.Get().(*state)
	defer func() {
		s.reset()
		statePool.Put(s)
	}()
	s.ev, s.tenant, s.attempt, s.endpointID = v.Event, v.Tenant, v.Attempt, v.EndpointID
	if s.tenant == "" {
		s.tenant = v.Event.Tenant
	}
	out, err := b.p.eval(s)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	r.order = b.order
	if err := r.value(out, 0); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// renderDefault writes DefaultBodySource's value without evaluating it.
func renderDefault(r *renderer, ev *hookd.Event) error {
	b := r.buf.AvailableBuffer()
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, ev.Type)
	b = append(b, `,"timestamp":"`...)
	b = ev.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	r.buf.Write(b)
	if err := r.raw(ev.Data); err != nil {
		return err
	}
	r.buf.WriteByte('}')
	return nil
}
