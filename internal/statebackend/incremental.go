package statebackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// An incremental snapshot of a Pebble backend is its database's files: a
// consistent copy of them is made at the checkpoint (flushed, then hard
// links), the table files (SSTs, immutable) are uploaded to the checkpoint
// storage's shared folder unless an earlier snapshot uploaded them, and a
// small part file lists them with the database's other files inline:
//
//	magic "FKI1" · uvarint version (1) · uvarint max parallelism
//	uvarint first key group · uvarint last key group
//	uvarint #states · per state: kind byte · uvarint len · name · uvarint id
//	uvarint #table files · per file: uvarint len · local name · uvarint len · shared name · uvarint size · CRC-32C (4 bytes little-endian)
//	uvarint #other files · per file: uvarint len · name · uvarint len · contents
//	uvarint len · a canonical snapshot of the state outside the database (tables kept on the heap, restored state not yet claimed)
//	CRC-32C (Castagnoli) of all before it, 4 bytes little-endian
//
// Restoring the same key groups opens the files as the new database (from
// the local copy of the checkpoint when it is intact, else downloaded);
// restoring other key groups (rescaling) or on the heap backend turns the
// files into a canonical snapshot first (see canonical), as the layout of
// the database's keys allows without the state's types.

const (
	incrementalMagic   = "FKI1"
	incrementalVersion = 1
)

// SharedFile is a table file of an incremental snapshot as the checkpoint
// storage holds it: uploaded once, and referred to by every later snapshot
// while the database keeps it.
type SharedFile struct {
	Local  string // its name in the database's directory
	Name   string // its name in the storage's shared folder
	Size   int64
	CRC32C uint32
}

// DBFile is a table file of a database copy.
type DBFile struct {
	Name string
	Size int64
}

// Incremental is the synchronous part of an incremental snapshot: a
// consistent copy of the database, taken on the subtask's goroutine. The
// rest — uploading, encoding the part file — runs on any goroutine, and
// Finish ends it.
type Incremental struct {
	ID int64
	// Dir holds the copy (hard links to the database's files).
	Dir string
	// SSTs are the copy's table files; those in Reuse were uploaded for
	// an earlier snapshot and need not be again.
	SSTs  []DBFile
	Reuse map[string]SharedFile // by local name

	b        *pebbleBackend
	kgs      keygroup.Range
	ids      []idEntry
	embedded []byte
	local    bool // Dir is kept for local recovery
}

type idEntry struct {
	id stateID
	n  uint16
}

// IncrementalSnapshotter is a backend that can take incremental
// snapshots.
type IncrementalSnapshotter interface {
	// Incremental reports whether the backend was configured for
	// incremental snapshots; a backend that was not takes full ones.
	Incremental() bool
	// SnapshotIncremental copies the backend's state at the call for
	// checkpoint id; kgs are the key groups it holds; now is the
	// processing time, for the state outside the database.
	SnapshotIncremental(id, now int64, kgs keygroup.Range) (*Incremental, error)
}

// incrementalState is what a backend remembers of its incremental
// snapshots: the files uploaded for the newest one written whole, which
// later ones refer to, and the local copies kept for recovery.
type incrementalState struct {
	mu     sync.Mutex
	baseID int64
	base   map[string]SharedFile // by local name
	locals []int64               // checkpoints with a local copy, oldest first
}

// keptLocalCopies is how many local copies a backend keeps: the newest
// checkpoint written may not have completed, so the one before stays too.
const keptLocalCopies = 2

func (b *pebbleBackend) Incremental() bool { return b.opts.Incremental }

func localCopyDir(localDir string, id int64) string {
	return filepath.Join(localDir, "chk-"+strconv.FormatInt(id, 10))
}

// SnapshotIncremental implements IncrementalSnapshotter.
func (b *pebbleBackend) SnapshotIncremental(id, now int64, kgs keygroup.Range) (*Incremental, error) {
	for _, f := range b.flushes {
		f()
	}
	embedded, err := b.registry.snapshot(now, true)
	if err != nil {
		return nil, err
	}
	if err := b.db.Flush(); err != nil {
		return nil, fmt.Errorf("flushing the Pebble backend: %w", err)
	}
	inc := &Incremental{ID: id, b: b, kgs: kgs, embedded: embedded}
	if b.opts.LocalDir != "" {
		if err := os.MkdirAll(b.opts.LocalDir, 0o755); err != nil {
			return nil, fmt.Errorf("making the local state directory: %w", err)
		}
		inc.Dir, inc.local = localCopyDir(b.opts.LocalDir, id), true
		_ = os.RemoveAll(inc.Dir) // left by an attempt that failed
	} else {
		inc.Dir = b.dir + ".chk-" + strconv.FormatInt(id, 10)
	}
	if err := b.db.Checkpoint(inc.Dir); err != nil {
		_ = os.RemoveAll(inc.Dir)
		return nil, fmt.Errorf("copying the Pebble backend's files: %w", err)
	}
	entries, err := os.ReadDir(inc.Dir)
	if err != nil {
		_ = os.RemoveAll(inc.Dir)
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sst") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			_ = os.RemoveAll(inc.Dir)
			return nil, err
		}
		inc.SSTs = append(inc.SSTs, DBFile{Name: e.Name(), Size: info.Size()})
	}
	for sid, n := range b.ids {
		inc.ids = append(inc.ids, idEntry{sid, n})
	}
	slices.SortFunc(inc.ids, func(a, b idEntry) int { return int(a.n) - int(b.n) })
	b.inc.mu.Lock()
	inc.Reuse = make(map[string]SharedFile, len(b.inc.base))
	for _, f := range inc.SSTs {
		if s, ok := b.inc.base[f.Name]; ok && s.Size == f.Size {
			inc.Reuse[f.Name] = s
		}
	}
	b.inc.mu.Unlock()
	return inc, nil
}

// Encode returns the snapshot's part file, given every table file as
// stored (the reused ones and those uploaded for it).
func (inc *Incremental) Encode(shared []SharedFile) ([]byte, error) {
	byLocal := make(map[string]SharedFile, len(shared))
	for _, s := range shared {
		byLocal[s.Local] = s
	}
	var out []byte
	out = append(out, incrementalMagic...)
	out = binary.AppendUvarint(out, incrementalVersion)
	out = binary.AppendUvarint(out, uint64(inc.b.maxParallelism))
	out = binary.AppendUvarint(out, uint64(inc.kgs.Start))
	out = binary.AppendUvarint(out, uint64(inc.kgs.End))
	out = binary.AppendUvarint(out, uint64(len(inc.ids)))
	for _, e := range inc.ids {
		out = append(out, e.id.kind)
		out = appendBytes(out, []byte(e.id.name))
		out = binary.AppendUvarint(out, uint64(e.n))
	}
	out = binary.AppendUvarint(out, uint64(len(inc.SSTs)))
	for _, f := range inc.SSTs {
		s, ok := byLocal[f.Name]
		if !ok {
			return nil, fmt.Errorf("incremental snapshot %d: table file %s was not stored", inc.ID, f.Name)
		}
		out = appendBytes(out, []byte(s.Local))
		out = appendBytes(out, []byte(s.Name))
		out = binary.AppendUvarint(out, uint64(s.Size))
		out = binary.LittleEndian.AppendUint32(out, s.CRC32C)
	}
	entries, err := os.ReadDir(inc.Dir)
	if err != nil {
		return nil, err
	}
	var others []os.DirEntry
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sst") && !e.IsDir() {
			others = append(others, e)
		}
	}
	out = binary.AppendUvarint(out, uint64(len(others)))
	for _, e := range others {
		data, err := os.ReadFile(filepath.Join(inc.Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = appendBytes(out, []byte(e.Name()))
		out = appendBytes(out, data)
	}
	out = appendBytes(out, inc.embedded)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// Finish ends the snapshot: once its files are stored (shared, err nil),
// later snapshots refer to them, and the copy is kept for local recovery
// if the backend keeps one; otherwise the copy is removed.
func (inc *Incremental) Finish(shared []SharedFile, err error) {
	st := &inc.b.inc
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil || !inc.local {
		_ = os.RemoveAll(inc.Dir)
	}
	if err != nil {
		return
	}
	if inc.ID > st.baseID {
		st.baseID = inc.ID
		st.base = make(map[string]SharedFile, len(shared))
		for _, s := range shared {
			st.base[s.Local] = s
		}
	}
	if inc.local {
		st.locals = append(st.locals, inc.ID)
		slices.Sort(st.locals)
		for len(st.locals) > keptLocalCopies {
			_ = os.RemoveAll(localCopyDir(inc.b.opts.LocalDir, st.locals[0]))
			st.locals = st.locals[1:]
		}
	}
}

// IsIncremental reports whether snapshot is an incremental snapshot's part
// file (else it is a canonical snapshot).
func IsIncremental(snapshot []byte) bool {
	return len(snapshot) >= len(incrementalMagic) && string(snapshot[:len(incrementalMagic)]) == incrementalMagic
}

// incrementalPart is a decoded part file.
type incrementalPart struct {
	maxParallelism int
	kgs            keygroup.Range
	ids            []idEntry
	ssts           []SharedFile
	others         []namedData
	embedded       []byte
}

type namedData struct {
	name string
	data []byte
}

// SharedFiles returns the table files an incremental snapshot refers to.
func SharedFiles(snapshot []byte) ([]SharedFile, error) {
	p, err := decodeIncremental(snapshot)
	if err != nil {
		return nil, err
	}
	return p.ssts, nil
}

func decodeIncremental(s []byte) (*incrementalPart, error) {
	if !IsIncremental(s) || len(s) < len(incrementalMagic)+4 {
		return nil, fmt.Errorf("%w: not an incremental snapshot", ErrCorruptSnapshot)
	}
	body := s[:len(s)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(s[len(s)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	r := &reader{b: body[len(incrementalMagic):]}
	v, err := r.uvarint("the version")
	if err != nil {
		return nil, err
	}
	if v != incrementalVersion {
		return nil, fmt.Errorf("%w: incremental snapshot version %d, want %d", ErrCorruptSnapshot, v, incrementalVersion)
	}
	p := &incrementalPart{}
	mp, err := r.count("the max parallelism", keygroup.UpperBoundMaxParallelism)
	if err != nil {
		return nil, err
	}
	p.maxParallelism = mp
	if p.kgs.Start, err = r.count("the first key group", mp-1); err != nil {
		return nil, err
	}
	if p.kgs.End, err = r.count("the last key group", mp-1); err != nil {
		return nil, err
	}
	str := func(what string) (string, error) {
		n, err := r.count(what+"'s length", len(r.b))
		if err != nil {
			return "", err
		}
		b, err := r.bytes(what, n)
		return string(b), err
	}
	n, err := r.count("the number of states", len(r.b))
	if err != nil {
		return nil, err
	}
	for range n {
		k, err := r.bytes("a state's kind", 1)
		if err != nil {
			return nil, err
		}
		if k[0] != kindTable && k[0] != kindTimers {
			return nil, fmt.Errorf("%w: state kind %d", ErrCorruptSnapshot, k[0])
		}
		name, err := str("a state name")
		if err != nil {
			return nil, err
		}
		id, err := r.count("a state id", 0xfffe)
		if err != nil {
			return nil, err
		}
		p.ids = append(p.ids, idEntry{stateID{k[0], name}, uint16(id)})
	}
	if n, err = r.count("the number of table files", len(r.b)); err != nil {
		return nil, err
	}
	for range n {
		var f SharedFile
		if f.Local, err = str("a table file's name"); err != nil {
			return nil, err
		}
		if err := validLocalName(f.Local); err != nil {
			return nil, err
		}
		if f.Name, err = str("a shared file's name"); err != nil {
			return nil, err
		}
		size, err := r.uvarint("a table file's size")
		if err != nil {
			return nil, err
		}
		f.Size = int64(size)
		c, err := r.bytes("a table file's checksum", 4)
		if err != nil {
			return nil, err
		}
		f.CRC32C = binary.LittleEndian.Uint32(c)
		p.ssts = append(p.ssts, f)
	}
	if n, err = r.count("the number of other files", len(r.b)); err != nil {
		return nil, err
	}
	for range n {
		name, err := str("a file's name")
		if err != nil {
			return nil, err
		}
		if err := validLocalName(name); err != nil {
			return nil, err
		}
		data, err := str("a file's contents")
		if err != nil {
			return nil, err
		}
		p.others = append(p.others, namedData{name, []byte(data)})
	}
	emb, err := str("the state outside the database")
	if err != nil {
		return nil, err
	}
	p.embedded = []byte(emb)
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the incremental snapshot", ErrCorruptSnapshot, len(r.b))
	}
	return p, nil
}

// validLocalName keeps a name from a part file inside its directory.
func validLocalName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%w: file name %q", ErrCorruptSnapshot, name)
	}
	return nil
}

// Fetch copies the shared file f of the checkpoint being restored to path.
type Fetch func(f SharedFile, path string) error

// Restore is what a backend restores from: the keyed-state part files of
// one operator, canonical or incremental, and how to get the files the
// incremental ones refer to.
type Restore struct {
	Snapshots [][]byte
	// Fetch gets a shared file; needed for incremental snapshots.
	Fetch Fetch
	// Checkpoint is the id of the checkpoint restored, whose local copy
	// (in the backend's LocalDir) is used when it is intact.
	Checkpoint int64
	// Reuse says that the shared files are in the storage the backend
	// will checkpoint to, so its incremental snapshots may refer to them
	// rather than upload them again.
	Reuse bool
}

// materialize builds the database of p in dir: table files from the local
// copy of checkpoint id in localDir where intact, else fetched.
func materialize(dir string, p *incrementalPart, fetch Fetch, localDir string, id int64) error {
	for _, f := range p.ssts {
		dst := filepath.Join(dir, f.Local)
		if localDir != "" && linkIntact(filepath.Join(localCopyDir(localDir, id), f.Local), dst, f) {
			continue
		}
		if fetch == nil {
			return fmt.Errorf("restoring %s: no way to fetch the shared file %s", f.Local, f.Name)
		}
		if err := fetch(f, dst); err != nil {
			return fmt.Errorf("fetching the shared file %s: %w", f.Name, err)
		}
	}
	for _, o := range p.others {
		if err := os.WriteFile(filepath.Join(dir, o.name), o.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// linkIntact links src to dst if src has f's size and checksum.
func linkIntact(src, dst string, f SharedFile) bool {
	fh, err := os.Open(src)
	if err != nil {
		return false
	}
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, fh)
	_ = fh.Close()
	if err != nil || n != f.Size || h.Sum32() != f.CRC32C {
		return false
	}
	if os.Link(src, dst) == nil {
		return true
	}
	data, err := os.ReadFile(src)
	return err == nil && os.WriteFile(dst, data, 0o644) == nil
}

// restoreIncremental restores the backend from part p, of the same key
// groups, by opening its files as the database.
func restoreIncremental(maxParallelism int, opts PebbleOptions, p *incrementalPart, in Restore) (*pebbleBackend, error) {
	reg := newRegistry(maxParallelism)
	dir, err := os.MkdirTemp(opts.Dir, "freshet-pebble-")
	if err != nil {
		return nil, fmt.Errorf("making the Pebble backend's directory: %w", err)
	}
	if err := materialize(dir, p, in.Fetch, opts.LocalDir, in.Checkpoint); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	b, err := openPebble(reg, dir, opts)
	if err != nil {
		return nil, err
	}
	for _, e := range p.ids {
		b.ids[e.id] = e.n
		b.nextID = max(b.nextID, e.n+1)
	}
	if err := b.countRestored(); err != nil {
		_ = b.Close()
		return nil, err
	}
	if len(p.embedded) > 0 {
		if err := b.read(p.embedded, p.kgs); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	if in.Reuse {
		b.inc.baseID = in.Checkpoint
		b.inc.base = make(map[string]SharedFile, len(p.ssts))
		for _, f := range p.ssts {
			b.inc.base[f.Local] = f
		}
	}
	return b, nil
}

// dbKey is a database key taken apart by the backend's layout (see
// pebbleBackend): a table entry's or a timer's.
type dbKey struct {
	timer bool
	id    uint16
	kg    int
	time  int64  // a timer's
	rest  []byte // the canonical entry's key and namespace
}

// parseDBKey takes k apart, checking its length and key group.
func parseDBKey(k []byte, maxParallelism int) (dbKey, error) {
	var d dbKey
	if len(k) > 0 && k[0] == timerPrefix {
		if len(k) < 13 {
			return d, fmt.Errorf("%w: a timer key of %d bytes", ErrCorruptSnapshot, len(k))
		}
		d.timer, d.id = true, binary.BigEndian.Uint16(k[1:])
		d.time = int64(binary.BigEndian.Uint64(k[3:]) ^ (1 << 63))
		d.kg, d.rest = int(binary.BigEndian.Uint16(k[11:])), k[13:]
	} else {
		if len(k) < 4 {
			return d, fmt.Errorf("%w: a key of %d bytes", ErrCorruptSnapshot, len(k))
		}
		d.kg, d.id, d.rest = int(binary.BigEndian.Uint16(k)), binary.BigEndian.Uint16(k[2:]), k[4:]
	}
	if d.kg >= maxParallelism {
		return d, fmt.Errorf("%w: key group %d of %d", ErrCorruptSnapshot, d.kg, maxParallelism)
	}
	return d, nil
}

// countRestored counts the entries of the restored database by table and
// key group, and the timers by queue, for the tables and queues made
// later (which keep these counts).
func (b *pebbleBackend) countRestored() error {
	b.restoredTables = map[uint16][]int32{}
	b.restoredTimers = map[uint16]restoredQueue{}
	it, err := b.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k, err := parseDBKey(it.Key(), b.maxParallelism)
		if err != nil {
			return err
		}
		if k.timer {
			q, seen := b.restoredTimers[k.id]
			if !seen {
				q.low = k.time
			}
			q.n++
			b.restoredTimers[k.id] = q
			continue
		}
		kg, id := k.kg, k.id
		c := b.restoredTables[id]
		if c == nil {
			c = make([]int32, b.maxParallelism)
			b.restoredTables[id] = c
		}
		c[kg]++
	}
	return it.Error()
}

// canonical turns incremental part p into a canonical snapshot of the key
// groups of kgs: its database is built in a directory of its own and read
// through, each entry copied as it is (see pebbleBackend's layout).
func canonical(p *incrementalPart, kgs keygroup.Range, in Restore, opts PebbleOptions) (_ []byte, err error) {
	dir, err := os.MkdirTemp(opts.Dir, "freshet-restore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := materialize(dir, p, in.Fetch, opts.LocalDir, in.Checkpoint); err != nil {
		return nil, err
	}
	po, release := pebbleOptions(PebbleOptions{CacheSize: 8 << 20})
	po.ReadOnly = true
	db, err := pebble.Open(dir, po)
	release()
	if err != nil {
		return nil, fmt.Errorf("opening a snapshot's database: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	index := map[[2]uint16]int{} // kind and id → index in states
	var states []stateID
	byID := map[[2]uint16]stateID{}
	for _, e := range p.ids {
		byID[[2]uint16{uint16(e.id.kind), e.n}] = e.id
	}
	indexOf := func(kind byte, id uint16) (int, error) {
		key := [2]uint16{uint16(kind), id}
		if i, ok := index[key]; ok {
			return i, nil
		}
		sid, ok := byID[key]
		if !ok {
			return 0, fmt.Errorf("%w: %s id %d has no name", ErrCorruptSnapshot, kindName(kind), id)
		}
		index[key] = len(states)
		states = append(states, sid)
		return len(states) - 1, nil
	}
	groups := blockGroups{}
	blockOf := groups.of
	rank := map[int]uint64{}
	it, err := db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k, err := parseDBKey(it.Key(), p.maxParallelism)
		if err != nil {
			return nil, err
		}
		if k.kg < kgs.Start || k.kg > kgs.End {
			continue
		}
		if k.timer {
			i, err := indexOf(kindTimers, k.id)
			if err != nil {
				return nil, err
			}
			bl := blockOf(k.kg, i)
			bl.data = binary.AppendVarint(bl.data, k.time)
			bl.data = binary.AppendUvarint(bl.data, rank[i])
			bl.data = append(bl.data, k.rest...)
			rank[i]++
			bl.n++
			continue
		}
		i, err := indexOf(kindTable, k.id)
		if err != nil {
			return nil, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		bl := blockOf(k.kg, i)
		bl.data = append(append(bl.data, k.rest...), v...)
		bl.n++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	return encodeSnapshot(p.maxParallelism, states, groups), nil
}

// expand turns the incremental part files among in.Snapshots into
// canonical snapshots of kgs (with the state each kept outside its
// database), for a restore that cannot open the files as they are.
func expand(maxParallelism int, kgs keygroup.Range, in Restore, opts PebbleOptions) ([][]byte, error) {
	var out [][]byte
	for i, s := range in.Snapshots {
		if !IsIncremental(s) {
			out = append(out, s)
			continue
		}
		p, err := decodeIncremental(s)
		if err != nil {
			return nil, fmt.Errorf("restoring keyed state from snapshot %d: %w", i, err)
		}
		if p.maxParallelism != maxParallelism {
			return nil, fmt.Errorf("restoring keyed state from snapshot %d: it has max parallelism %d, the backend %d; key groups cannot be mapped", i, p.maxParallelism, maxParallelism)
		}
		if p.kgs.End < kgs.Start || p.kgs.Start > kgs.End {
			continue
		}
		c, err := canonical(p, kgs, in, opts)
		if err != nil {
			return nil, fmt.Errorf("restoring keyed state from snapshot %d: %w", i, err)
		}
		out = append(out, c)
		if len(p.embedded) > 0 {
			out = append(out, p.embedded)
		}
	}
	return out, nil
}

// sameRange returns the one incremental part of in that holds exactly
// kgs, when in has no other part, so that its files can be opened as
// they are.
func sameRange(kgs keygroup.Range, in Restore) *incrementalPart {
	if len(in.Snapshots) != 1 || !IsIncremental(in.Snapshots[0]) {
		return nil
	}
	p, err := decodeIncremental(in.Snapshots[0])
	if err != nil || p.kgs != kgs {
		return nil
	}
	return p
}
