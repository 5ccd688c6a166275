package expr

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

// Limits on what one expression may cost.
const (
	// MaxSourceLength bounds the text of an expression, as
	// hookd.Endpoint.Validate does.
	MaxSourceLength = 4096
	// MaxCost bounds CEL's compile-time cost estimate of an expression,
	// made as if every value of unknown size (event.data, its lists and
	// strings) were small: an expression over it would be too expensive
	// on any event. One million is what Kubernetes allows one validation
	// rule.
	MaxCost = 1_000_000
	// MaxIterations bounds the comprehension iterations (exists, all,
	// map, filter…) of one evaluation, nested loops counting each inner
	// iteration.
	MaxIterations = 1_000_000
	// MaxEvalTime bounds one evaluation; it is checked every few
	// comprehension iterations and after every costly function (matches,
	// replace, join, format…), so an evaluation stops within it plus one
	// such call.
	MaxEvalTime = 250 * time.Millisecond
	// MaxEvalMemory bounds the bytes one evaluation may build with string,
	// bytes and list concatenation and the string functions.
	MaxEvalMemory = 16 << 20
	// MaxStringSize bounds a string built by replace, join, format or
	// strings.quote.
	MaxStringSize = 4 << 20
	// MaxBodySize bounds a rendered body.
	MaxBodySize = 8 << 20

	clockEvery        = 8 // iterations between two looks at the clock
	maxLoopNesting    = 3
	assumedValueSize  = 16 // size of a value the estimator cannot know (data, split results…)
	maxParseRecursion = 64
)

// envs holds the two environments, built once: filters see event and
// tenant, bodies also attempt and endpoint.
var envs struct {
	once         sync.Once
	filter, body *cel.Env
	err          error
}

func environments() (filter, body *cel.Env, err error) {
	envs.once.Do(func() {
		envs.filter, envs.err = newEnv(
			cel.Variable("event", cel.ObjectType(eventTypeName)),
			cel.Variable("tenant", cel.StringType),
		)
		if envs.err != nil {
			return
		}
		envs.body, envs.err = envs.filter.Extend(
			cel.Variable("attempt", cel.ObjectType(attemptTypeName)),
			cel.Variable("endpoint", cel.ObjectType(endpointTypeName)),
		)
	})
	return envs.filter, envs.body, envs.err
}

func newEnv(vars ...cel.EnvOption) (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := provider{reg}
	guards, err := guardedStrings()
	if err != nil {
		return nil, err
	}
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(p),
		cel.CustomTypeAdapter(p),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.OptionalTypes(),
		optionalMacros(),
		ext.Strings(ext.StringsValidateFormatCalls(true)),
		ext.Encoders(),
		ext.Math(),
		cel.ParserRecursionLimit(maxParseRecursion),
		cel.ParserExpressionSizeLimit(MaxSourceLength),
		cel.ASTValidators(
			cel.ValidateComprehensionNestingLimit(maxLoopNesting),
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),
	}
	opts = append(opts, guards...)
	opts = append(opts, vars...)
	return cel.NewEnv(opts...)
}

// programOptions plan every expression. Evaluation is bounded by the
// state (see state.interrupted and chargeDecorator) rather than by
// cel.CostLimit: CEL's runtime cost tracker keeps a stack that grows with
// every comprehension iteration and is searched on each step, which makes
// // it quadratic in the iteration count (cel-go v0.26 and later: an exists()
// over 3,000 items ran four times slower under it, and a nested all() over
// them took 700 ms to reach a limit of one million), and even without
// loops it costs eleven allocations and about two microseconds per
// evaluation, more than a typical filter itself. InterruptCheckFrequency(1) makes every
// comprehension iteration ask the state whether to stop.
var programOptions = []cel.ProgramOption{
	cel.EvalOptions(cel.OptOptimize),
	cel.InterruptCheckFrequency(1),
	cel.CustomDecorator(chargeDecorator),
}

// guardedStrings redefines the string functions of ext.Strings whose result
// can be far larger than their input, wrapping CEL's own implementation in
// a check of the result size made before the result is built. Redefining an
// overload with the same signature replaces its implementation.
func guardedStrings() ([]cel.EnvOption, error) {
	base, err := cel.NewEnv(ext.Strings())
	if err != nil {
		return nil, err
	}
	orig := map[string]*functions.Overload{}
	for _, fn := range base.Functions() {
		bindings, err := fn.Bindings()
		if err != nil {
			return nil, err
		}
		for _, b := range bindings {
			orig[b.Operator] = b
		}
	}
	guard := func(id string, check func(args []ref.Val) error) cel.OverloadOpt {
		o := orig[id]
		return cel.FunctionBinding(func(args ...ref.Val) ref.Val {
			if err := check(args); err != nil {
				return types.WrapErr(err)
			}
			return call(o, args)
		})
	}
	str, list, dyn, integer := cel.StringType, cel.ListType(cel.StringType), cel.ListType(cel.DynType), cel.IntType
	for _, id := range []string{"string_replace_string_string", "string_replace_string_string_int", "list_join", "list_join_string", "string_format", "strings_quote"} {
		if orig[id] == nil {
			return nil, fmt.Errorf("expr: ext.Strings has no overload %s", id)
		}
	}
	return []cel.EnvOption{
		cel.Function("replace",
			cel.MemberOverload("string_replace_string_string", []*cel.Type{str, str, str}, str,
				guard("string_replace_string_string", checkReplace)),
			cel.MemberOverload("string_replace_string_string_int", []*cel.Type{str, str, str, integer}, str,
				guard("string_replace_string_string_int", checkReplace))),
		cel.Function("join",
			cel.MemberOverload("list_join", []*cel.Type{list}, str, guard("list_join", checkJoin)),
			cel.MemberOverload("list_join_string", []*cel.Type{list, str}, str, guard("list_join_string", checkJoin))),
		cel.Function("format",
			cel.MemberOverload("string_format", []*cel.Type{str, dyn}, str, guard("string_format", checkFormat))),
		cel.Function("strings.quote",
			cel.Overload("strings_quote", []*cel.Type{str}, str, guard("strings_quote", checkQuote))),
	}, nil
}

func call(o *functions.Overload, args []ref.Val) ref.Val {
	switch {
	case len(args) == 1 && o.Unary != nil:
		return o.Unary(args[0])
	case len(args) == 2 && o.Binary != nil:
		return o.Binary(args[0], args[1])
	case o.Function != nil:
		return o.Function(args...)
	}
	return types.NewErr("no such overload: %s", o.Operator)
}

func tooLarge(what string) error {
	return fmt.Errorf("%s: result would exceed %d bytes: %w", what, MaxStringSize, ErrLimit)
}

// checkReplace computes the exact length of the result of
// s.replace(old, new[, n]).
func checkReplace(args []ref.Val) error {
	s, ok1 := args[0].(types.String)
	old, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return nil // the original reports the type error
	}
	n := -1
	if len(args) == 4 {
		if i, ok := args[3].(types.Int); ok && i >= 0 && i < math.MaxInt32 {
			n = int(i)
		}
	}
	count := 0
	if old == "" {
		count = utf8.RuneCountInString(string(s)) + 1
	} else if len(repl) > len(old) {
		count = strings.Count(string(s), string(old))
	}
	if n >= 0 && n < count {
		count = n
	}
	if len(repl) > len(old) && float64(len(s))+float64(count)*float64(len(repl)-len(old)) > MaxStringSize {
		return tooLarge("replace")
	}
	return nil
}

func checkJoin(args []ref.Val) error {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return nil
	}
	sep := 0
	if len(args) == 2 {
		if s, ok := args[1].(types.String); ok {
			sep = len(s)
		}
	}
	total := 0
	for it := l.Iterator(); it.HasNext() == types.True; {
		if s, ok := it.Next().(types.String); ok {
			total += len(s)
		}
		total += sep
		if total > MaxStringSize {
			return tooLarge("join")
		}
	}
	return nil
}

func checkFormat(args []ref.Val) error {
	s, _ := args[0].(types.String)
	budget := MaxStringSize - len(s)
	if budget < 0 || reprExceeds(args[1], &budget, 0) {
		return tooLarge("format")
	}
	return nil
}

func checkQuote(args []ref.Val) error {
	// A quoted byte takes at most 6: \u00XX for control characters.
	if s, ok := args[0].(types.String); ok && 6*len(s)+2 > MaxStringSize {
		return tooLarge("strings.quote")
	}
	return nil
}

// reprExceeds reports whether printing v (as format's %s does) could take
// more than *budget bytes, spending the budget as it goes.
func reprExceeds(v ref.Val, budget *int, depth int) bool {
	if depth > MaxDataDepth+maxParseRecursion {
		return true
	}
	switch t := v.(type) {
	case types.String:
		*budget -= 6*len(t) + 2
	case types.Bytes:
		*budget -= 4*len(t) + 2
	case traits.Lister:
		for it := t.Iterator(); it.HasNext() == types.True; {
			*budget -= 2
			if *budget < 0 || reprExceeds(it.Next(), budget, depth+1) {
				return true
			}
		}
	case traits.Mapper:
		for it := t.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			*budget -= 4
			if *budget < 0 || reprExceeds(k, budget, depth+1) || reprExceeds(t.Get(k), budget, depth+1) {
				return true
			}
		}
	default:
		*budget -= 64
	}
	return *budget < 0
}

// estimator tells the compile-time estimate to assume small values where
// it cannot know their size (event.data, results of split…). An expression
// whose estimate still exceeds MaxCost would fail on any event, so it is
// rejected at once; costs that grow with the data are left to the runtime
// limit.
type estimator struct{}

func (estimator) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: assumedValueSize}
}

func (estimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
