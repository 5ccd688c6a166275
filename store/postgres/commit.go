package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// inserter is the group committer of EventInsertMany. Calls that arrive
// while earlier ones are being written wait in a queue; the next free
// worker writes everything queued as one statement, so under load many
// publishes share one round trip and one WAL flush, and when idle a call is
// written at once. A few workers run side by side so that one commit's
// latency does not hold up the next batch.
type inserter struct {
	s    *Store
	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	pending []*insertReq
	closed  bool
}

const (
	insertWorkers = 3
	// maxMerge bounds the events of one merged statement (a single call
	// may exceed it; it is never split).
	maxMerge = 2000
	// flushTimeout bounds one write; the callers' contexts cannot, since
	// one write serves many of them.
	flushTimeout = 30 * time.Second
)

type insertReq struct {
	ctx  context.Context
	in   []hookd.EventInsert
	res  []hookd.EventInsertResult
	err  error
	done chan struct{}
}

func newInserter(s *Store) *inserter {
	ins := &inserter{s: s, kick: make(chan struct{}, insertWorkers), quit: make(chan struct{})}
	ins.wg.Add(insertWorkers)
	for range insertWorkers {
		go ins.work()
	}
	return ins
}

func (ins *inserter) insert(ctx context.Context, in []hookd.EventInsert) ([]hookd.EventInsertResult, error) {
	req := &insertReq{ctx: ctx, in: in, done: make(chan struct{})}
	ins.mu.Lock()
	if ins.closed {
		ins.mu.Unlock()
		return nil, hookd.Errorf(hookd.EUNAVAILABLE, "the store is closed")
	}
	ins.pending = append(ins.pending, req)
	ins.mu.Unlock()
	select {
	case ins.kick <- struct{}{}:
	default: // every worker is already awake and will find it
	}
	select {
	case <-req.done:
		return req.res, req.err
	case <-ctx.Done():
		// It may still be written; a publish retried with the same
		// event ids is then answered as a duplicate.
		return nil, ins.s.fail(ctx.Err(), "insert events")
	}
}

func (ins *inserter) work() {
	defer ins.wg.Done()
	for {
		select {
		case <-ins.quit:
			return
		case <-ins.kick:
		}
		for group := ins.take(); len(group) > 0; group = ins.take() {
			ins.flush(group)
		}
	}
}

// take removes queued calls up to maxMerge events, dropping those whose
// caller has given up.
func (ins *inserter) take() []*insertReq {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	var group []*insertReq
	n := 0
	for len(ins.pending) > 0 {
		r := ins.pending[0]
		if len(group) > 0 && n+len(r.in) > maxMerge {
			break
		}
		ins.pending[0] = nil
		ins.pending = ins.pending[1:]
		if err := r.ctx.Err(); err != nil {
			r.err = ins.s.fail(err, "insert events")
			close(r.done)
			continue
		}
		group = append(group, r)
		n += len(r.in)
	}
	return group
}

func (ins *inserter) flush(group []*insertReq) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if len(group) == 1 {
		r := group[0]
		r.res, r.err = ins.s.insertNow(ctx, r.in)
		close(r.done)
		return
	}
	var all []hookd.EventInsert
	for _, r := range group {
		all = append(all, r.in...)
	}
	res, err := ins.s.insertNow(ctx, all)
	switch code := hookd.ErrorCode(err); {
	case err == nil:
		for _, r := range group {
			r.res, res = res[:len(r.in):len(r.in)], res[len(r.in):]
			close(r.done)
		}
	case code == hookd.EDUPLICATE || code == hookd.EINVALID:
		// One call's data failed the statement: each call alone
		// finds out whether it was the one.
		for _, r := range group {
			r.res, r.err = ins.s.insertNow(ctx, r.in)
			close(r.done)
		}
	default:
		for _, r := range group {
			r.err = err
			close(r.done)
		}
	}
}

// close fails queued calls and stops the workers after their current
// write.
func (ins *inserter) close() {
	ins.mu.Lock()
	ins.closed = true
	pending := ins.pending
	ins.pending = nil
	ins.mu.Unlock()
	for _, r := range pending {
		r.err = hookd.Errorf(hookd.EUNAVAILABLE, "the store is closed")
		close(r.done)
	}
	close(ins.quit)
	ins.wg.Wait()
}
