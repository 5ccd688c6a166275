package expr_test

import (
	"fmt"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/expr"
)

func ExampleCompileFilter() {
	f, err := expr.CompileFilter(`event.type.startsWith("order.") && event.data.amount > 100`)
	if err != nil {
		panic(err)
	}
	for _, data := range []string{`{"amount": 150}`, `{"amount": 99.5}`, `{}`} {
		ok, err := f.Match(&hookd.Event{Type: "order.created", Data: []byte(data)})
		fmt.Println(data, ok, err)
	}

	_, err = expr.CompileFilter(`event.amount > 100`)
	fmt.Println(hookd.ErrorCode(err))
	// Output:
	// {"amount": 150} true <nil>
	// {"amount": 99.5} false <nil>
	// {} false filter: no such key: amount
	// invalid
}

func ExampleBody_Render() {
	b, err := expr.CompileBody(`{"id": event.seq, "object": "event", "date_created": event.occurred_at,
		"event_type": event.type, "payload": event.data, "attempt": attempt.number}`)
	if err != nil {
		panic(err)
	}
	out, err := b.Render(expr.BodyVars{
		Event: &hookd.Event{
			ID: "evt_1", Seq: 42, Type: "form.submitted", Data: []byte(`{"name": "Ada", "amount": 10.0}`),
			OccurredAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		},
		Attempt: expr.AttemptVars{ID: "att_1", Number: 1, Timestamp: time.Now()},
	})
	fmt.Println(string(out), err)
	// Output:
	// {"id":42,"object":"event","date_created":"2024-05-06T07:08:09Z","event_type":"form.submitted","payload":{"name":"Ada","amount":10.0},"attempt":1} <nil>
}
