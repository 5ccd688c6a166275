package delivery

import (
	"testing"

	"github.com/hookd/hookd"
)

// First attempts go before retries, but every fourth pick is a retry, so
// neither starves the other; manual jobs jump the queue.
func TestLanePriority(t *testing.T) {
	l := &lane{conf: &epConf{ep: &hookd.Endpoint{MaxInFlight: 1}}}
	mk := func(id string, attempts int, manual bool) *job {
		return &job{d: &hookd.Delivery{ID: id, Attempts: attempts}, manual: manual}
	}
	for _, j := range []*job{mk("r1", 1, false), mk("r2", 2, false), mk("r3", 1, false)} {
		l.retry.push(j)
	}
	for _, id := range []string{"f1", "f2", "f3", "f4", "f5", "f6"} {
		l.fresh.push(mk(id, 0, false))
	}
	l.fresh.pushFront(mk("ping", 0, true))
	var got []string
	for l.queuedLocked() > 0 {
		got = append(got, l.popLocked().d.ID)
	}
	want := []string{"ping", "f1", "f2", "r1", "f3", "f4", "f5", "r2", "f6", "r3"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

func TestFifo(t *testing.T) {
	var q fifo
	for i := range 3000 {
		q.push(&job{d: &hookd.Delivery{Attempts: i}})
		if i%3 == 2 {
			q.pop()
		}
	}
	// 3000 pushed, 1000 popped: the next is the 1001st.
	if q.len() != 2000 || q.pop().d.Attempts != 1000 {
		t.Fatalf("len %d after 3000 pushes and 1000 pops", q.len())
	}
	q.pushFront(&job{d: &hookd.Delivery{Attempts: -1}})
	if q.pop().d.Attempts != -1 || q.pop().d.Attempts != 1001 {
		t.Fatal("pushFront did not go first")
	}
	for q.len() > 0 {
		q.pop()
	}
	if q.pop() != nil {
		t.Fatal("pop of an empty queue")
	}
}
