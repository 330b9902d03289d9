package statebackend

import (
	"fmt"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

// entryCache is a Pebble table's write-back cache of recently used
// entries: their keys and encoded values, bounded in bytes. Reads that hit
// it skip the database, and writes stay in it until they are evicted or
// written back (before anything reads the database as a whole), then go
// to the database in one batch per eviction round instead of one commit
// each.
//
// Values are kept encoded, so that every read decodes a copy as the
// database would give: callers of a backend that copies values (see
// ValuesInPlace) may change what they read without writing it back.
//
// Eviction is a clock: an entry used since the hand last passed it gets a
// second chance. A round evicts until the cache is an eighth under its
// bound, so that write-backs are batched.
type entryCache struct {
	db    *pebble.DB
	max   int // bytes
	size  int
	index map[string]int32
	slots []cacheSlot
	free  []int32
	hand  int
	dirty int
	// marked lists the slots made dirty since the last write-back (some
	// since evicted or written), so that a write-back need not scan the
	// cache; rebuilt when it outgrows the cache.
	marked []int32
}

type cacheSlot struct {
	key   string // "" for a free slot
	val   []byte
	used  bool
	dirty bool
}

// cacheSlotOverhead approximates the bytes an entry costs beyond its key
// and value: its slot and its index entry.
const cacheSlotOverhead = 96

func newEntryCache(db *pebble.DB, max int) *entryCache {
	return &entryCache{db: db, max: max, index: map[string]int32{}}
}

func slotSize(key string, val []byte) int { return len(key) + cap(val) + cacheSlotOverhead }

// get returns the encoded value at key, which stays valid until the cache
// next changes.
func (c *entryCache) get(key []byte) ([]byte, bool) {
	i, ok := c.index[string(key)]
	if !ok {
		return nil, false
	}
	s := &c.slots[i]
	s.used = true
	return s.val, true
}

// has reports whether key is cached.
func (c *entryCache) has(key []byte) bool {
	_, ok := c.index[string(key)]
	return ok
}

// put sets the value at key to a copy of val, dirty if the database does
// not hold it yet, and evicts if the cache is over its bound.
func (c *entryCache) put(key, val []byte, dirty bool) {
	if i, ok := c.index[string(key)]; ok {
		s := &c.slots[i]
		c.size -= slotSize(s.key, s.val)
		s.val = append(s.val[:0], val...)
		c.size += slotSize(s.key, s.val)
		s.used = true
		if dirty && !s.dirty {
			s.dirty = true
			c.mark(i)
		}
	} else {
		// One allocation holds the key, then the value: the value is
		// rewritten in place while it fits, the key never.
		buf := make([]byte, len(key)+len(val))
		copy(buf, key)
		copy(buf[len(key):], val)
		s := cacheSlot{key: unsafe.String(unsafe.SliceData(buf), len(key)), val: buf[len(key):], used: true, dirty: dirty}
		var i int32
		if n := len(c.free); n > 0 {
			i, c.free = c.free[n-1], c.free[:n-1]
			c.slots[i] = s
		} else {
			i = int32(len(c.slots))
			c.slots = append(c.slots, s)
		}
		c.index[s.key] = i
		c.size += slotSize(s.key, s.val)
		if dirty {
			c.mark(i)
		}
	}
	if c.size > c.max {
		c.evict()
	}
}

// mark counts slot i, just made dirty, and lists it.
func (c *entryCache) mark(i int32) {
	c.dirty++
	if len(c.marked) >= 2*len(c.slots)+64 {
		c.marked = c.marked[:0]
		for j := range c.slots {
			if c.slots[j].dirty {
				c.marked = append(c.marked, int32(j))
			}
		}
		return // i is dirty, so listed
	}
	c.marked = append(c.marked, i)
}

// remove drops key, dirty or not, and reports whether it was cached.
func (c *entryCache) remove(key []byte) bool {
	i, ok := c.index[string(key)]
	if !ok {
		return false
	}
	c.drop(i)
	return true
}

func (c *entryCache) drop(i int32) {
	s := &c.slots[i]
	delete(c.index, s.key)
	c.size -= slotSize(s.key, s.val)
	if s.dirty {
		c.dirty--
	}
	*s = cacheSlot{}
	c.free = append(c.free, i)
}

// evict evicts entries by the clock until the cache is an eighth under its
// bound, writing the dirty ones to the database in one batch.
func (c *entryCache) evict() {
	target := c.max - c.max/8
	var batch *pebble.Batch
	for c.size > target && len(c.index) > 0 {
		if c.hand >= len(c.slots) {
			c.hand = 0
		}
		s := &c.slots[c.hand]
		switch {
		case s.key == "":
		case s.used:
			s.used = false
		default:
			if s.dirty {
				batch = c.write(batch, s)
			}
			c.drop(int32(c.hand))
		}
		c.hand++
	}
	commit(batch)
}

// writeBack writes the dirty entries to the database; they stay cached.
func (c *entryCache) writeBack() {
	if c.dirty == 0 {
		return
	}
	var batch *pebble.Batch
	for _, i := range c.marked {
		if s := &c.slots[i]; s.dirty {
			batch = c.write(batch, s)
			s.dirty = false
		}
	}
	c.dirty, c.marked = 0, c.marked[:0]
	commit(batch)
}

// maxBatch is the size at which a write-back commits its batch and
// starts another.
const maxBatch = 1 << 20

// write adds the entry of s to batch, made if nil, committing it once it
// holds maxBatch bytes, and returns the batch to go on with.
func (c *entryCache) write(batch *pebble.Batch, s *cacheSlot) *pebble.Batch {
	if batch == nil {
		batch = c.db.NewBatch()
	}
	// The batch copies the key.
	key := unsafe.Slice(unsafe.StringData(s.key), len(s.key))
	if err := batch.Set(key, s.val, nil); err != nil {
		panic(fmt.Errorf("writing state: %w", err))
	}
	if batch.Len() >= maxBatch {
		commit(batch)
		return nil
	}
	return batch
}

func commit(batch *pebble.Batch) {
	if batch == nil {
		return
	}
	if err := batch.Commit(noSync); err != nil {
		panic(fmt.Errorf("writing state: %w", err))
	}
	_ = batch.Close()
}
