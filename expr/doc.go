// Package expr compiles and evaluates the CEL expressions of an endpoint: the
// filter that decides whether the endpoint gets an event, and the body that
// replaces the default JSON payload of every attempt.
//
// Expressions are checked when an endpoint is created or changed
// (CompileFilter, CompileBody: a bad one is a *hookd.Error EINVALID naming
// the field "filter" or "body" and carrying CEL's message) and evaluated once
// per event or attempt on the delivery path, so the design favours the
// evaluation side:
//
//   - Compiled programs are cached by source text in a bounded LRU, so the
//     engine may call CompileFilter and CompileBody with an endpoint's text
//     on every fan-out and never compile twice.
//   - The variables are typed objects (hookd.Event, hookd.Attempt,
//     hookd.Endpoint) served by a small type provider straight from the Go
//     structs: a misspelt field (event.tpye) is a compile error, and reading
//     event.id costs no map. event.data is read lazily from its JSON: a
//     filter on event.data.amount scans the top-level object once and
//     parses only that value (see decodeData).
//   - JSON numbers keep their kind: an integer literal that fits int64 is a
//     CEL int, anything else a double, so large ids survive untouched.
//     Comparisons across int and double are enabled (event.data.amount > 100
//     holds for 150 and 150.5 alike) and equality is CEL's heterogeneous
//     one (1 == 1.0). Arithmetic still needs one kind: write
//     double(event.data.amount) * 1.2.
//   - A missing key is an error, as in CEL: Match returns false with the
//     error, and callers treat it as "no match" (and may log it). Guard with
//     has(event.data.amount) or use the optional syntax
//     event.data.?amount.orValue(0) when data varies between events.
//   - Besides CEL's standard library, expressions have the optional types
//     (x.?field, orValue, optMap), the string extensions (lowerAscii,
//     replace, split, join, format…), base64 encoders and math functions.
//     Nothing performs I/O.
//   - event.occurred_at and attempt.timestamp are CEL timestamps (compare
//     them with timestamp("2024-01-01T00:00:00Z") or take int(t) for Unix
//     seconds); string(t) and a body give their RFC 3339 UTC form.
//
// Evaluation is bounded so that a hostile expression costs its own
// deliveries, not the server. At compile time, CEL's cost estimate (with
// every value of unknown size assumed small) must stay under MaxCost, loops
// nest at most three deep, and the expanded tree is bounded (optMap and
// optFlatMap are re-implemented so that chaining them no longer doubles
// the tree). At run time each evaluation has an iteration budget
// (MaxIterations), a deadline (MaxEvalTime) checked inside loops and after
// costly calls, and a memory budget (MaxEvalMemory) charged by string,
// bytes and list concatenation and by the string functions, which also
// refuse results over MaxStringSize before building them. Rendered bodies
// stop at MaxBodySize; event data deeper than MaxDataDepth is refused. CEL's
// own runtime cost tracker is not used: it is quadratic in loop iterations
// and costs more than a typical filter (see programOptions). A limit
// reached is an error wrapping ErrLimit.
//
// Bodies render to JSON with deterministic bytes (the signature covers
// them): keys of a body's top-level map literal keep their written order,
// other maps are sorted by key, timestamps are RFC 3339 strings, durations
// Go duration strings, bytes base64, integer-valued doubles print without a
// fraction (42, not 42.0), and event.data, or an object or array taken
// whole from it, is copied from the stored JSON (compacted) rather than
// re-encoded, so its key order and its numbers stay as published.
package expr
