package signature_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/hookd/hookd/signature"
)

// A receiver checks hookd's requests before trusting them. During a
// rotation it lists both secrets.
func ExampleVerifier() {
	v := &signature.Verifier{Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	http.HandleFunc("/hooks", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Deduplicate on r.Header.Get("webhook-id"), then handle body.
		fmt.Fprintln(w, "ok")
	})
}
