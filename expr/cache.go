package expr

import (
	"container/list"
	"sync"
)

// cacheSize bounds each of the two caches (filters, bodies). A compiled
// program is a few tens of kilobytes, so a full cache stays in the tens of
// megabytes while covering every distinct expression of a large install.
const cacheSize = 4096

// lru is a mutex-guarded least-recently-used map from source text to a
// compiled expression. Lookups on the delivery path are a map read and a
// list move; compilation happens outside the lock, so two callers may
// compile the same text at once, and the second result is dropped.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	order list.List // front: most recently used
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, items: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

// add stores val unless key is already present, and returns the cached
// value either way.
func (c *lru[V]) add(key string, val V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key, val})
	if c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry[V]).key)
	}
	return val
}

func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
