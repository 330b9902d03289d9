package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
)

// ErrInvalidConfig is wrapped by the errors of a source or sink configured
// wrongly.
var ErrInvalidConfig = errors.New("freshet: invalid kafka configuration")

// OffsetKind says where a split starts reading when the job starts without
// a checkpoint.
type OffsetKind uint8

const (
	// FromEarliest starts at the first offset still in the log.
	FromEarliest OffsetKind = iota
	// FromLatest starts at the end of the log: only new records are read.
	FromLatest
	// FromCommitted starts at the offsets committed by the source's
	// group; partitions without one start at StartingOffsets.Reset.
	FromCommitted
	// FromTimestamp starts at the first record whose timestamp is at or
	// after StartingOffsets.Timestamp (the end of the log if none is).
	FromTimestamp
	// FromSpecific starts at StartingOffsets.Offsets; partitions not
	// listed there start at StartingOffsets.Reset.
	FromSpecific
)

func (k OffsetKind) String() string {
	switch k {
	case FromEarliest:
		return "earliest"
	case FromLatest:
		return "latest"
	case FromCommitted:
		return "committed"
	case FromTimestamp:
		return "timestamp"
	case FromSpecific:
		return "specific"
	}
	return "OffsetKind(" + strconv.Itoa(int(k)) + ")"
}

// StartingOffsets says where a fresh job starts reading each partition. A
// job restored from a checkpoint ignores it and resumes where the
// checkpoint says. The zero value starts at the earliest offsets.
type StartingOffsets struct {
	Kind OffsetKind
	// Reset is where partitions without a committed (FromCommitted) or
	// listed (FromSpecific) offset start: FromEarliest or FromLatest.
	Reset OffsetKind
	// Offsets are the offsets to start from, by topic and partition, for
	// FromSpecific.
	Offsets map[string]map[int32]int64
	// Timestamp is the event time (ms since the epoch) for FromTimestamp.
	Timestamp int64
}

// Earliest starts at the first offset of every partition.
func Earliest() StartingOffsets { return StartingOffsets{Kind: FromEarliest} }

// Latest starts at the end of every partition.
func Latest() StartingOffsets { return StartingOffsets{Kind: FromLatest} }

// Committed starts at the group's committed offsets, and at reset
// (FromEarliest or FromLatest) where none is committed.
func Committed(reset OffsetKind) StartingOffsets {
	return StartingOffsets{Kind: FromCommitted, Reset: reset}
}

// Offsets starts every partition listed in offsets (topic → partition →
// offset) at its offset, and the others at the earliest offset (set Reset
// to FromLatest for the latest).
func Offsets(offsets map[string]map[int32]int64) StartingOffsets {
	return StartingOffsets{Kind: FromSpecific, Reset: FromEarliest, Offsets: offsets}
}

// AtTimestamp starts at the first record at or after ms (ms since the epoch).
func AtTimestamp(ms int64) StartingOffsets {
	return StartingOffsets{Kind: FromTimestamp, Timestamp: ms}
}

// Split is one topic partition, the unit a reader reads. Its state in a
// checkpoint is the offset reading resumes from.
type Split struct {
	Topic     string
	Partition int32
	// Next is the offset of the next record to emit.
	Next int64
	// Stop is one past the last offset to read in bounded mode; -1 reads
	// forever.
	Stop int64
	// Known marks, in the enumerator's checkpointed state only, a
	// partition already assigned to a reader (whose own state holds its
	// position): partition discovery does not assign it again.
	Known bool
}

// SplitID implements source.Split: "topic-partition".
func (s Split) SplitID() string { return s.Topic + "-" + strconv.Itoa(int(s.Partition)) }

func (s Split) done() bool { return s.Stop >= 0 && s.Next >= s.Stop }

// Source reads Kafka topics: one split per topic partition, each
// assigned to one reader (see the package comment), each reader consuming
// its partitions with one client. Records are emitted with the Kafka
// record timestamp as their event time. The position in every partition
// is kept in checkpoints, so a restored job resumes where the checkpoint
// was taken and, with an exactly-once sink, emits every record once into
// the job's results.
//
// An unbounded source discovers new partitions and topics every
// PartitionDiscovery; a bounded one reads those it finds at start. With a
// GroupID, offsets are committed to the group when checkpoints complete,
// for monitoring: the job's checkpoints hold the positions it resumes
// from.
//
// To read only committed transactions, add
// kgo.FetchIsolationLevel(kgo.ReadCommitted()) to ClientOptions; a bounded
// source then waits for transactions open at its stopping offsets to end.
type Source[T any] struct {
	// Brokers are the seed brokers, "host:port". Required.
	Brokers []string
	// Topics are the topics to read. One of Topics and TopicPattern is
	// required.
	Topics []string
	// TopicPattern selects the topics to read by name: every topic whose
	// name it matches, including, with partition discovery, topics
	// created while the job runs.
	TopicPattern *regexp.Regexp
	// PartitionDiscovery is how often an unbounded source looks for new
	// partitions (of new topics matching TopicPattern, or added to its
	// topics); they are read from their earliest offset. 0 is
	// DefaultPartitionDiscovery, negative turns discovery off. A bounded
	// source reads only the partitions it finds at start.
	PartitionDiscovery time.Duration
	// GroupID is the consumer group whose committed offsets
	// StartingOffsets FromCommitted starts from (required for it). When
	// set, every reader also commits to the group the offsets of each
	// checkpoint once it completes, for monitoring (consumer lag): the
	// job's checkpoints, not the group, hold the positions a restored job
	// resumes from. Commits are asynchronous; a failed one is logged.
	GroupID string
	// DisableOffsetCommits keeps readers from committing offsets to
	// GroupID when checkpoints complete.
	DisableOffsetCommits bool
	// Logger receives the source's warnings (a failed offset commit);
	// nil is slog.Default().
	Logger *slog.Logger
	// Deserializer turns a record into a value; it sees the whole record
	// (key, value, headers, topic, partition, offset, timestamp).
	// Required. A record it fails on fails the job with an error naming
	// its topic, partition and offset, or, with BadRecords set, goes to
	// that side output. See Values, Strings and ValueDeserializer.
	Deserializer func(*kgo.Record) (T, error)
	// BadRecords, when set, is the id of the side output that records the
	// Deserializer fails on are sent to, as BadRecord values, instead of
	// failing the job. Read them with
	//
	//	freshet.SideOutput(stream, freshet.NewOutputTag[kafka.BadRecord](id))
	BadRecords string
	// StartingOffsets is where a fresh job starts; the zero value is
	// Earliest.
	StartingOffsets StartingOffsets
	// Bounded makes the source end: each partition is read up to the end
	// offset it had when the job started (the latest offsets seen then).
	// A restored job keeps the stopping offsets of the first run.
	Bounded bool
	// StoppingOffsets, for a bounded source, are the offsets to stop at
	// (one past the last record read), by topic and partition, instead of
	// the end offsets seen at start; partitions not listed stop at those.
	StoppingOffsets map[string]map[int32]int64
	// ClientOptions are added to the options of every client the source
	// makes (TLS, SASL, timeouts). Options selecting what to consume are
	// overridden.
	ClientOptions []kgo.Opt
}

// DefaultPartitionDiscovery is how often an unbounded source looks for new
// partitions unless told otherwise, as in Flink.
const DefaultPartitionDiscovery = 5 * time.Minute

var (
	_ source.Source[string, Split] = (*Source[string])(nil)
	_ source.Validator             = (*Source[string])(nil)
	_ source.CheckpointListener    = (*reader[string])(nil)
)

// BadRecord is a record the Deserializer failed on, as sent to the
// BadRecords side output, with the record's timestamp as event time.
type BadRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Timestamp is the record's timestamp, ms since the epoch.
	Timestamp int64
	// Error is the Deserializer's error.
	Error string
}

// SideOutputTypes implements source.SideOutputTypes: the BadRecords side
// output carries BadRecord values.
func (s *Source[T]) SideOutputTypes() map[string]reflect.Type {
	if s.BadRecords == "" {
		return nil
	}
	return map[string]reflect.Type{s.BadRecords: reflect.TypeFor[BadRecord]()}
}

// ValueDeserializer is a Deserializer that decodes only the record's value
// with f.
func ValueDeserializer[T any](f func([]byte) (T, error)) func(*kgo.Record) (T, error) {
	return func(r *kgo.Record) (T, error) { return f(r.Value) }
}

// Values is a Deserializer that emits the record's value bytes.
func Values(r *kgo.Record) ([]byte, error) { return r.Value, nil }

// Strings is a Deserializer that emits the record's value as a string.
func Strings(r *kgo.Record) (string, error) { return string(r.Value), nil }

// Validate reports what is wrong with the source's configuration.
func (s *Source[T]) Validate() error {
	var errs []error
	if len(s.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	switch {
	case len(s.Topics) == 0 && s.TopicPattern == nil:
		errs = append(errs, errors.New("no topics"))
	case len(s.Topics) > 0 && s.TopicPattern != nil:
		errs = append(errs, errors.New("both topics and a topic pattern"))
	}
	if len(s.StoppingOffsets) > 0 && !s.Bounded {
		errs = append(errs, errors.New("stopping offsets need a bounded source"))
	}
	for i, t := range s.Topics {
		if t == "" {
			errs = append(errs, fmt.Errorf("topic %d is empty", i))
		}
	}
	if s.Deserializer == nil {
		errs = append(errs, errors.New("no deserializer"))
	}
	switch so := s.StartingOffsets; so.Kind {
	case FromEarliest, FromLatest, FromTimestamp:
	case FromSpecific:
		if so.Reset != FromEarliest && so.Reset != FromLatest {
			errs = append(errs, fmt.Errorf("specific offsets reset to %v, want earliest or latest", so.Reset))
		}
	case FromCommitted:
		if s.GroupID == "" {
			errs = append(errs, errors.New("starting from committed offsets needs a group id"))
		}
		if so.Reset != FromEarliest && so.Reset != FromLatest {
			errs = append(errs, fmt.Errorf("committed offsets reset to %v, want earliest or latest", so.Reset))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown starting offsets %v", so.Kind))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: source: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Boundedness implements source.Source.
func (s *Source[T]) Boundedness() source.Boundedness {
	if s.Bounded {
		return source.Bounded
	}
	return source.Unbounded
}

// CreateEnumerator implements source.Source: the enumerator lists the
// topics' partitions and resolves their starting (and, bounded, stopping)
// offsets when it starts.
func (s *Source[T]) CreateEnumerator(ctx source.EnumeratorContext[Split]) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return newEnumerator(s, ctx, nil, false), nil
}

// RestoreEnumerator implements source.Source: state holds the splits not
// yet assigned and, marked Known, the partitions already assigned.
func (s *Source[T]) RestoreEnumerator(ctx source.EnumeratorContext[Split], state []Split) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return newEnumerator(s, ctx, state, true), nil
}

// discoveryInterval is how often the enumerator looks for new partitions;
// 0 for none.
func (s *Source[T]) discoveryInterval() time.Duration {
	switch {
	case s.Bounded || s.PartitionDiscovery < 0:
		return 0
	case s.PartitionDiscovery == 0:
		return DefaultPartitionDiscovery
	}
	return s.PartitionDiscovery
}

type topicPartition struct {
	topic     string
	partition int32
}

// enumerator assigns every partition to one reader, chosen as Flink's
// KafkaSourceEnumerator does, so the assignment depends only on the
// topic, the partition and the parallelism: the reader of partition p of
// topic t is (javaHash(t)*31 & MaxInt32 % parallelism + p) % parallelism.
// Splits are handed to a reader once it has registered. With partition
// discovery, a goroutine lists the partitions every interval and assigns
// the new ones from their earliest offset.
//
// The goroutine and the coordinator's calls share the state under mu; a
// split is assigned (sent to its reader) under mu, so a checkpoint's
// snapshot either sees it assigned and the reader gets it before the
// checkpoint's barrier, or sees it pending and a restore assigns it again.
type enumerator[T any] struct {
	src      *Source[T]
	ctx      source.EnumeratorContext[Split]
	restored bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu struct {
		sync.Mutex
		known      map[topicPartition]bool // assigned or pending
		pending    map[int][]Split         // by reader, not yet sent
		registered map[int]bool
	}
}

func newEnumerator[T any](s *Source[T], ctx source.EnumeratorContext[Split], state []Split, restored bool) *enumerator[T] {
	e := &enumerator[T]{src: s, ctx: ctx, restored: restored}
	e.mu.known = map[topicPartition]bool{}
	e.mu.pending = map[int][]Split{}
	e.mu.registered = map[int]bool{}
	var splits []Split
	for _, sp := range state {
		e.mu.known[topicPartition{sp.Topic, sp.Partition}] = true
		if !sp.Known {
			splits = append(splits, sp)
		}
	}
	e.addLocked(splits)
	return e
}

// javaHash is Java's String.hashCode, which Flink's assignment uses.
func javaHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// owner is the reader that reads partition p of topic t.
func owner(t string, p int32, parallelism int) int {
	start := int((javaHash(t)*31)&math.MaxInt32) % parallelism
	return (start + int(p)) % parallelism
}

// addLocked makes splits pending for their readers and sends those of
// registered readers.
func (e *enumerator[T]) addLocked(splits []Split) {
	par := e.ctx.Parallelism()
	for _, sp := range splits {
		e.mu.known[topicPartition{sp.Topic, sp.Partition}] = true
		o := owner(sp.Topic, sp.Partition, par)
		e.mu.pending[o] = append(e.mu.pending[o], sp)
	}
	for r := range e.mu.registered {
		e.sendLocked(r)
	}
}

func (e *enumerator[T]) sendLocked(reader int) {
	if sp := e.mu.pending[reader]; len(sp) > 0 {
		e.ctx.AssignSplits(reader, sp...)
	}
	delete(e.mu.pending, reader)
}

func (e *enumerator[T]) Start(ctx context.Context) error {
	if !e.restored {
		splits, err := e.src.discover(ctx, nil)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.addLocked(splits)
		e.mu.Unlock()
	}
	iv := e.src.discoveryInterval()
	if iv == 0 {
		return nil
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Add(1)
	go e.discoverEvery(ctx, iv)
	return nil
}

// discoverEvery assigns new partitions every iv until ctx ends. A failed
// listing is logged and tried again at the next tick.
func (e *enumerator[T]) discoverEvery(ctx context.Context, iv time.Duration) {
	defer e.wg.Done()
	t := time.NewTicker(iv)
	defer t.Stop()
	if e.restored {
		// New partitions may have appeared while the job was down.
		e.discoverNew(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.discoverNew(ctx)
	}
}

func (e *enumerator[T]) discoverNew(ctx context.Context) {
	e.mu.Lock()
	known := maps.Clone(e.mu.known)
	e.mu.Unlock()
	splits, err := e.src.discover(ctx, known)
	if err != nil {
		if ctx.Err() == nil {
			e.src.logger().Warn("kafka source: discovering partitions failed", slog.Any("error", err))
		}
		return
	}
	if len(splits) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var fresh []Split
	for _, sp := range splits {
		if !e.mu.known[topicPartition{sp.Topic, sp.Partition}] {
			fresh = append(fresh, sp)
		}
	}
	e.addLocked(fresh)
}

func (e *enumerator[T]) HandleSplitRequest(int) {}

func (e *enumerator[T]) AddReader(subtask int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.registered[subtask] = true
	e.sendLocked(subtask)
	if e.src.discoveryInterval() == 0 {
		e.ctx.SignalNoMoreSplits(subtask)
	}
}

func (e *enumerator[T]) AddSplitsBack(splits []Split, subtask int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mu.registered, subtask)
	e.mu.pending[subtask] = append(e.mu.pending[subtask], splits...)
}

// SnapshotState implements source.Enumerator: the splits not yet sent to
// their readers, then every partition already sent, marked Known.
func (e *enumerator[T]) SnapshotState(int64) ([]Split, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Split
	pending := map[topicPartition]bool{}
	for r := range e.ctx.Parallelism() {
		for _, sp := range e.mu.pending[r] {
			pending[topicPartition{sp.Topic, sp.Partition}] = true
			out = append(out, sp)
		}
	}
	for tp := range e.mu.known {
		if !pending[tp] {
			out = append(out, Split{Topic: tp.topic, Partition: tp.partition, Known: true})
		}
	}
	slices.SortStableFunc(out, func(a, b Split) int {
		if a.Known != b.Known {
			if a.Known {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

func (e *enumerator[T]) Close() error {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	return nil
}

func (s *Source[T]) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(slices.Clone(s.ClientOptions), kgo.SeedBrokers(s.Brokers...))
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka source: creating client: %w", err)
	}
	return cl, nil
}

// topics lists the topics to read: Topics, or those matching TopicPattern.
func (s *Source[T]) topics(ctx context.Context, adm *kadm.Client) ([]string, error) {
	if s.TopicPattern == nil {
		return s.Topics, nil
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka source: listing topics: %w", err)
	}
	var out []string
	for _, t := range td.Names() {
		if s.TopicPattern.MatchString(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// discover lists the partitions of the topics with their starting and
// stopping offsets, sorted by topic and partition. With known nil it is
// the first discovery of a job, which starts where StartingOffsets says;
// otherwise it lists only partitions not in known, from their earliest
// offsets.
func (s *Source[T]) discover(ctx context.Context, known map[topicPartition]bool) ([]Split, error) {
	cl, err := s.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := s.topics(ctx, adm)
	if err != nil || len(topics) == 0 {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka source: listing end offsets of %v: %w", topics, err)
	}
	if known == nil && s.TopicPattern == nil {
		for _, t := range topics {
			if len(ends[t]) == 0 {
				return nil, fmt.Errorf("kafka source: topic %q has no partitions (does it exist?)", t)
			}
		}
	}
	var start kadm.ListedOffsets
	so := s.StartingOffsets
	kind := so.Kind
	if known != nil {
		kind = FromEarliest
	}
	var committed kadm.OffsetResponses
	switch kind {
	case FromCommitted:
		committed, err = adm.FetchOffsetsForTopics(ctx, s.GroupID, topics...)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("kafka source: fetching offsets of group %q: %w", s.GroupID, err)
		}
		kind = so.Reset
	case FromSpecific:
		kind = so.Reset
	}
	switch kind {
	case FromEarliest:
		start, err = adm.ListStartOffsets(ctx, topics...)
	case FromLatest:
		start = ends
	case FromTimestamp:
		start, err = adm.ListOffsetsAfterMilli(ctx, so.Timestamp, topics...)
	}
	if err == nil {
		err = start.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka source: listing %v offsets: %w", kind, err)
	}
	var splits []Split
	for _, t := range topics {
		for p, end := range ends[t] {
			if known[topicPartition{t, p}] {
				continue
			}
			sp := Split{Topic: t, Partition: p, Next: start[t][p].Offset, Stop: -1}
			if o, ok := committed.Lookup(t, p); ok && o.At >= 0 {
				sp.Next = o.At
			}
			if o, ok := so.Offsets[t][p]; ok && known == nil && so.Kind == FromSpecific {
				sp.Next = o
			}
			if s.Bounded {
				sp.Stop = end.Offset
				if o, ok := s.StoppingOffsets[t][p]; ok {
					sp.Stop = o
				}
			}
			splits = append(splits, sp)
		}
	}
	slices.SortFunc(splits, func(a, b Split) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return splits, nil
}

// CreateReader implements source.Source.
func (s *Source[T]) CreateReader(ctx source.ReaderContext) (source.Reader[T, Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	r := &reader[T]{src: s, splits: map[string]*Split{}, avail: make(chan struct{}, 1), space: make(chan struct{}, 1),
		highWatermarks: map[string]int64{}}
	m := ctx.Metrics()
	r.bytesRead, r.lag = m.Counter("bytesRead"), m.Gauge("lag")
	if s.GroupID != "" && !s.DisableOffsetCommits {
		r.snapshots = map[int64]kadm.Offsets{}
		r.commitWake = make(chan struct{}, 1)
	}
	return r, nil
}

func (s *Source[T]) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// reader consumes its splits with one client. A fetching goroutine,
// started with the first splits, polls the client and hands batches to
// PollNext through fetched; positions advance only as records are
// emitted, so SnapshotState is exact.
type reader[T any] struct {
	src    *Source[T]
	ctx    context.Context
	cancel context.CancelFunc
	cl     *kgo.Client
	wg     sync.WaitGroup

	splits map[string]*Split // by split id
	order  []string          // split ids in the order assigned
	noMore bool
	closed bool
	// pending are partitions to consume once the reader has started.
	pending []map[string]map[int32]kgo.Offset
	batch   []*kgo.Record // fetched, not yet emitted
	// highWatermarks are the partitions' high watermarks the fetches
	// reported, by split id.
	highWatermarks map[string]int64
	// bytesRead counts the keys' and values' bytes of the records
	// emitted; lag is the sum over the reader's partitions of high
	// watermark - next offset, as of the latest fetch.
	bytesRead *metric.Counter
	lag       *metric.Gauge
	lagAt     time.Time     // when lag was last computed
	avail     chan struct{} // signalled when PollNext may have work
	space     chan struct{} // signalled when PollNext took a fetched batch

	// snapshots are the offsets of the checkpoints taken and not yet
	// completed or dropped, by checkpoint id; nil when the reader does not
	// commit offsets.
	snapshots  map[int64]kadm.Offsets
	commitWake chan struct{} // signalled when commit.next is set

	mu struct {
		sync.Mutex
		fetched []fetched
		err     error
	}
	commit struct {
		sync.Mutex
		next kadm.Offsets // the newest offsets to commit, nil if none
		id   int64        // the checkpoint of next
		cl   *kgo.Client
	}
}

func (r *reader[T]) Start(ctx context.Context) error {
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.consumePending()
	if r.commitWake != nil {
		r.wg.Add(1)
		go r.commitLoop()
	}
	return nil
}

// NotifyCheckpointComplete implements source.CheckpointListener: the
// offsets the reader had at checkpoint id are committed to the group, by
// the committing goroutine so that the subtask does not wait for the
// broker. Snapshots of id and earlier checkpoints are dropped.
func (r *reader[T]) NotifyCheckpointComplete(id int64) error {
	if r.snapshots == nil {
		return nil
	}
	os, ok := r.snapshots[id]
	for cid := range r.snapshots {
		if cid <= id {
			delete(r.snapshots, cid)
		}
	}
	if !ok || len(os) == 0 || r.cl == nil {
		return nil
	}
	r.commit.Lock()
	r.commit.next, r.commit.id, r.commit.cl = os, id, r.cl
	r.commit.Unlock()
	select {
	case r.commitWake <- struct{}{}:
	default:
	}
	return nil
}

// NotifyCheckpointAborted implements source.CheckpointListener: the
// aborted checkpoint's offsets are dropped.
func (r *reader[T]) NotifyCheckpointAborted(id int64) error {
	delete(r.snapshots, id)
	return nil
}

// commitLoop commits the newest completed checkpoint's offsets until the
// reader closes; a commit still running when a newer checkpoint completes
// is followed by one of the newer offsets only.
func (r *reader[T]) commitLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.commitWake:
		}
		r.commit.Lock()
		os, id, cl := r.commit.next, r.commit.id, r.commit.cl
		r.commit.next = nil
		r.commit.Unlock()
		if os == nil {
			continue
		}
		resp, err := kadm.NewClient(cl).CommitOffsets(r.ctx, r.src.GroupID, os)
		if err == nil {
			err = resp.Error()
		}
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			r.src.logger().Warn("kafka source: committing offsets failed",
				slog.String("group", r.src.GroupID), slog.Int64("checkpoint", id), slog.Any("error", err))
		}
	}
}

func (r *reader[T]) AddSplits(splits []Split) {
	add := map[string]map[int32]kgo.Offset{}
	for _, sp := range splits {
		sp := sp
		id := sp.SplitID()
		if sp.done() {
			continue
		}
		r.splits[id] = &sp
		r.order = append(r.order, id)
		if add[sp.Topic] == nil {
			add[sp.Topic] = map[int32]kgo.Offset{}
		}
		add[sp.Topic][sp.Partition] = kgo.NewOffset().At(sp.Next)
	}
	r.pending = append(r.pending, add)
	if r.ctx != nil {
		r.consumePending()
	}
}

// consumePending starts consuming the partitions added since the last
// call: after a restore the runtime adds splits before Start.
func (r *reader[T]) consumePending() {
	add := map[string]map[int32]kgo.Offset{}
	for _, m := range r.pending {
		for t, ps := range m {
			if add[t] == nil {
				add[t] = map[int32]kgo.Offset{}
			}
			for p, o := range ps {
				add[t][p] = o
			}
		}
	}
	r.pending = nil
	if len(add) == 0 {
		return
	}
	if r.cl == nil {
		opts := []kgo.Opt{kgo.ConsumePartitions(add), kgo.KeepControlRecords()}
		if iv := r.src.discoveryInterval(); iv > 0 && iv < 5*time.Second {
			// Partitions discovered later join the next fetch
			// request: keep the fetches' wait for data within the
			// discovery interval.
			opts = append(opts, kgo.FetchMaxWait(iv))
		}
		cl, err := r.src.newClient(opts...)
		if err != nil {
			r.setErr(err)
			return
		}
		r.cl = cl
		r.wg.Add(1)
		go r.fetch()
		return
	}
	r.cl.AddConsumePartitions(add)
	// Partitions of a topic the client has not seen wait for its next
	// metadata refresh otherwise.
	r.cl.ForceMetadataRefresh()
}

func (r *reader[T]) setErr(err error) {
	r.mu.Lock()
	if r.mu.err == nil {
		r.mu.err = err
	}
	r.mu.Unlock()
	r.signal()
}

func (r *reader[T]) signal() {
	select {
	case r.avail <- struct{}{}:
	default:
	}
}

// maxPerPoll is how many records PollNext emits at most.
const maxPerPoll = 256

// maxQueued is how many fetched batches wait for PollNext before the
// fetching goroutine stops polling.
const maxQueued = 4

// fetch polls the client until the reader closes.
func (r *reader[T]) fetch() {
	defer r.wg.Done()
	for r.ctx.Err() == nil {
		fs := r.cl.PollFetches(r.ctx)
		if r.ctx.Err() != nil {
			return
		}
		var err error
		fs.EachError(func(t string, p int32, e error) {
			if err == nil && !errors.Is(e, context.Canceled) {
				err = fmt.Errorf("kafka source: fetching %s-%d: %w", t, p, e)
			}
		})
		if err != nil {
			r.setErr(err)
			return
		}
		var f fetched
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			f.highWatermarks = append(f.highWatermarks, highWatermark{id: p.Topic + "-" + strconv.Itoa(int(p.Partition)), offset: p.HighWatermark})
			f.records = append(f.records, p.Records...)
		})
		if len(f.records) == 0 && len(f.highWatermarks) == 0 {
			continue
		}
		r.mu.Lock()
		r.mu.fetched = append(r.mu.fetched, f)
		full := len(r.mu.fetched) >= maxQueued
		r.mu.Unlock()
		r.signal()
		for full {
			select {
			case <-r.ctx.Done():
				return
			case <-r.space:
			}
			r.mu.Lock()
			full = len(r.mu.fetched) >= maxQueued
			r.mu.Unlock()
		}
	}
}

func (r *reader[T]) PollNext(out source.Output[T]) (source.InputStatus, error) {
	if r.closed {
		return source.EndOfInput, source.ErrReaderClosed
	}
	if len(r.batch) == 0 {
		r.mu.Lock()
		err := r.mu.err
		var hws []highWatermark
		if len(r.mu.fetched) > 0 {
			r.batch, hws = r.mu.fetched[0].records, r.mu.fetched[0].highWatermarks
			r.mu.fetched = r.mu.fetched[1:]
		}
		r.mu.Unlock()
		select {
		case r.space <- struct{}{}:
		default:
		}
		if err != nil {
			return source.EndOfInput, err
		}
		for _, hw := range hws {
			r.highWatermarks[hw.id] = hw.offset
		}
		if len(hws) > 0 {
			r.lagAt = time.Time{} // new high watermarks: update at this poll's end
		}
	}
	defer r.maybeUpdateLag()
	so, _ := out.(source.SplitOutputs[T])
	var bytes int64
	defer func() { r.bytesRead.Add(bytes) }()
	emitted := 0
	// A fetch holds runs of records of one partition: the split, its id
	// and its output are looked up when the partition changes, not per
	// record.
	var (
		id   string
		sp   *Split
		o    source.Output[T]
		last struct {
			topic string
			part  int32
			ok    bool
		}
	)
	for i, rec := range r.batch {
		if emitted == maxPerPoll {
			// Return between runs of records, so that checkpoints
			// are not held up by a large fetch.
			r.batch = r.batch[i:]
			return source.MoreAvailable, nil
		}
		if !last.ok || rec.Partition != last.part || rec.Topic != last.topic {
			last.topic, last.part, last.ok = rec.Topic, rec.Partition, true
			id = rec.Topic + "-" + strconv.Itoa(int(rec.Partition))
			sp, o = r.splits[id], out
			if so != nil && sp != nil && !sp.done() {
				o = so.ForSplit(id)
			}
		}
		if sp == nil || sp.done() || rec.Offset < sp.Next {
			continue
		}
		if rec.Attrs.IsControl() {
			// A transaction marker: nothing to emit, but a bounded
			// split may end on one.
			sp.Next = rec.Offset + 1
			if sp.done() {
				r.finish(id, so)
			}
			continue
		}
		v, err := r.src.Deserializer(rec)
		if err != nil {
			if r.src.BadRecords == "" {
				return source.EndOfInput, fmt.Errorf("kafka source: deserializing record %s-%d at offset %d: %w", rec.Topic, rec.Partition, rec.Offset, err)
			}
			bad := BadRecord{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value,
				Timestamp: rec.Timestamp.UnixMilli(), Error: err.Error()}
			if err := source.EmitToSide(out, r.src.BadRecords, bad, bad.Timestamp); err != nil {
				return source.EndOfInput, fmt.Errorf("kafka source: sending record %s-%d at offset %d to side output %q: %w", rec.Topic, rec.Partition, rec.Offset, r.src.BadRecords, err)
			}
			sp.Next = rec.Offset + 1
			if sp.done() {
				r.finish(id, so)
			}
			continue
		}
		o.CollectWithTimestamp(v, rec.Timestamp.UnixMilli())
		bytes += int64(len(rec.Key) + len(rec.Value))
		emitted++
		sp.Next = rec.Offset + 1
		if sp.done() {
			r.finish(id, so)
		}
	}
	r.batch = nil
	if len(r.splits) == 0 && r.noMore {
		return source.EndOfInput, nil
	}
	r.mu.Lock()
	more := len(r.mu.fetched) > 0 || r.mu.err != nil
	r.mu.Unlock()
	if more {
		return source.MoreAvailable, nil
	}
	return source.NothingAvailable, nil
}

// fetched is what one poll of the client returned.
type fetched struct {
	records        []*kgo.Record
	highWatermarks []highWatermark
}

// highWatermark is a partition's high watermark (the offset after the last
// record written) as a fetch reported it.
type highWatermark struct {
	id     string // the split id
	offset int64
}

// lagInterval is how often at most a poll in the middle of a fetched
// batch computes the lag, which visits every split of the reader.
const lagInterval = 100 * time.Millisecond

// maybeUpdateLag updates the lag when the poll took a fetch with new high
// watermarks or finished one, or lagInterval has passed since the last
// update.
func (r *reader[T]) maybeUpdateLag() {
	if len(r.batch) > 0 && time.Since(r.lagAt) < lagInterval {
		return
	}
	r.updateLag()
}

// updateLag sets the lag gauge: over the reader's partitions whose high
// watermark a fetch reported, the records between the next offset to
// read and the high watermark.
func (r *reader[T]) updateLag() {
	r.lagAt = time.Now()
	var lag int64
	for id, sp := range r.splits {
		if hw, ok := r.highWatermarks[id]; ok && hw > sp.Next {
			lag += hw - sp.Next
		}
	}
	r.lag.Set(float64(lag))
}

// finish drops a split read to its stopping offset.
func (r *reader[T]) finish(id string, so source.SplitOutputs[T]) {
	sp := r.splits[id]
	delete(r.splits, id)
	delete(r.highWatermarks, id)
	r.order = slices.DeleteFunc(r.order, func(s string) bool { return s == id })
	if r.cl != nil {
		r.cl.RemoveConsumePartitions(map[string][]int32{sp.Topic: {sp.Partition}})
	}
	if so != nil {
		so.ReleaseSplit(id)
	}
}

func (r *reader[T]) Available() <-chan struct{} { return r.avail }

func (r *reader[T]) NotifyNoMoreSplits() {
	r.noMore = true
	r.signal()
}

// SnapshotState implements source.Reader: the splits not finished, each
// at the offset after the last record emitted.
func (r *reader[T]) SnapshotState(checkpointID int64) ([]Split, error) {
	out := make([]Split, 0, len(r.order))
	var os kadm.Offsets
	for _, id := range r.order {
		sp := *r.splits[id]
		out = append(out, sp)
		if r.snapshots != nil {
			os.AddOffset(sp.Topic, sp.Partition, sp.Next, -1)
		}
	}
	if r.snapshots != nil {
		r.snapshots[checkpointID] = os
	}
	return out, nil
}

func (r *reader[T]) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if r.cl != nil {
		r.cl.Close()
		r.cl = nil
	}
	r.closed = true
	return nil
}
