package expr

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// maxNodes bounds the expanded syntax tree of an expression. Text is
// bounded by MaxSourceLength, but a macro may copy its arguments; no
// macro of ours does any longer, so this is a second line.
const maxNodes = 20_000

// optionalMacros replace cel.OptionalTypes' optMap and optFlatMap, which
// copy their receiver into both branches of a conditional: a chain of n
// calls (x.optMap(a, a).optMap(a, a)…) expanded to 2^n copies, so a
// 300-byte filter hung the type checker. These bind the receiver once to a
// hidden variable instead, with the same meaning. Registered after
// cel.OptionalTypes, they take the place of its macros.
func optionalMacros() cel.EnvOption {
	return cel.Macros(
		cel.ReceiverMacro("optMap", 2, func(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			return optExpand(eh, target, args, true)
		}),
		cel.ReceiverMacro("optFlatMap", 2, func(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			return optExpand(eh, target, args, false)
		}),
	)
}

// optExpand builds
//
//	bind(@opt, [target],
//	     (@opt[0].hasValue() ? [wrap(bind(v, @opt[0].value(), expr))] : [optional.none()])[0])
//
// where bind is CEL's one-shot comprehension (as cel.bind) and wrap is
// optional.of for optMap and nothing for optFlatMap. Optionals travel in
// one-element lists because the interpreter, resolving a variable or a
// conditional whose value is an optional, converts the value inside to its
// native Go form: a whole copy of a large list, or of event data, each time.
func optExpand(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr, wrap bool) (ast.Expr, *common.Error) {
	if args[0].Kind() != ast.IdentKind {
		return nil, eh.NewError(args[0].ID(), "optMap() variable name must be a simple identifier")
	}
	const hidden = "@opt"
	bind := func(name string, init, result ast.Expr) ast.Expr {
		return eh.NewComprehension(eh.NewList(), "#unused", name, init, eh.NewLiteral(types.False), eh.NewIdent(name), result)
	}
	opt := func() ast.Expr { return eh.NewCall("_[_]", eh.NewIdent(hidden), eh.NewLiteral(types.Int(0))) }
	mapped := bind(args[0].AsIdent(), eh.NewMemberCall("value", opt()), args[1])
	if wrap {
		mapped = eh.NewCall("optional.of", mapped)
	}
	return bind(hidden, eh.NewList(target),
		eh.NewCall("_[_]",
			eh.NewCall("_?_:_",
				eh.NewMemberCall("hasValue", opt()),
				eh.NewList(mapped),
				eh.NewList(eh.NewCall("optional.none"))),
			eh.NewLiteral(types.Int(0)))), nil
}

// tooManyNodes reports whether the tree under e has more than max nodes.
func tooManyNodes(e ast.Expr, max int) bool {
	n := 0
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(ast.Expr) { n++ }))
	return n > max
}
