package expr

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/hookd/hookd"
)

// ErrLimit is wrapped by the errors of an evaluation stopped by
// MaxIterations, MaxEvalTime, MaxEvalMemory, MaxStringSize or MaxBodySize,
// so that callers can tell an expression too expensive to run from one
// that failed on its data.
var ErrLimit = errors.New("expression limit exceeded")

// program is a checked, planned expression, shared by every goroutine that
// evaluates it (cel.Program is safe for concurrent use).
type program struct {
	src string
	prg cel.Program
}

// compile parses, checks and plans src in env; errors are EINVALID naming
// field.
func compile(env *cel.Env, field, src string, check func(*cel.Ast) string) (*program, *cel.Ast, error) {
	if len(src) > MaxSourceLength {
		return nil, nil, hookd.Invalid(field, "must be at most %d bytes", MaxSourceLength)
	}
	parsed, iss := env.ParseSource(common.NewStringSource(src, field))
	if iss.Err() != nil {
		return nil, nil, hookd.Invalid(field, "%s", strings.TrimSpace(iss.Err().Error()))
	}
	if tooManyNodes(parsed.NativeRep().Expr(), maxNodes) {
		return nil, nil, hookd.Invalid(field, "too complex: more than %d nodes once macros are expanded", maxNodes)
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, nil, hookd.Invalid(field, "%s", strings.TrimSpace(iss.Err().Error()))
	}
	for _, e := range ast.MatchDescendants(ast.NavigateAST(checked.NativeRep()), ast.KindMatcher(ast.StructKind)) {
		name := e.AsStruct().TypeName()
		if _, ours := (provider{}).fieldsOf(name); ours {
			return nil, nil, hookd.Invalid(field, "%s values cannot be constructed", name)
		}
	}
	if msg := check(checked); msg != "" {
		return nil, nil, hookd.Invalid(field, "%s", msg)
	}
	est, err := env.EstimateCost(checked, estimator{})
	if err != nil {
		return nil, nil, hookd.Invalid(field, "cannot estimate its cost: %v", err)
	}
	if est.Max > MaxCost {
		return nil, nil, hookd.Invalid(field, "too expensive: its estimated cost %d exceeds the limit of %d even on small data", est.Max, MaxCost)
	}
	prg, err := env.Program(checked, programOptions...)
	if err != nil {
		return nil, nil, hookd.Invalid(field, "%v", err)
	}
	return &program{src: src, prg: prg}, checked, nil
}

// eval runs the program against s.
func (p *program) eval(s *state) (ref.Val, error) {
	s.deadline = time.Now().Add(MaxEvalTime)
	out, _, err := p.prg.Eval(s)
	if s.stopped != nil {
		// An interrupted comprehension reports only "operation
		// interrupted"; say which limit it was.
		return nil, s.stopped
	}
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) {
			return nil, fmt.Errorf("%s: %w", cancelled.Message, ErrLimit)
		}
		return nil, err
	}
	return out, nil
}
