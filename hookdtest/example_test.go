package hookdtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookd/hookd/hookdtest"
)

// A test of a webhook sender: the receiver fails once with a Retry-After,
// then accepts, and the test waits for both requests instead of sleeping.
func ExampleReceiver() {
	testSender := func(t *testing.T) {
		r := hookdtest.NewReceiver(t)
		r.Respond(hookdtest.Response{Status: 503, Header: http.Header{"Retry-After": {"1"}}})

		for range 2 { // stands for the code under test
			resp, err := http.Post(r.URL+"/hooks", "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}

		reqs := r.Wait(2)
		if got := reqs[1].Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
	}
	_ = testSender
}
