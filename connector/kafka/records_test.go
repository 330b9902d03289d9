package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

// produceKeyed writes n records to topic like produce, each with key
// "k<i>" and header "h" = "<i>".
func produceKeyed(t *testing.T, brokers []string, topic string, partitions, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range n {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: []byte("k" + strconv.Itoa(i)),
			Value: []byte(strconv.Itoa(i)), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}},
			Timestamp: time.UnixMilli(baseTime + int64(i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// full is what fullRecord reads from a record.
type full struct {
	Key, Value, Header, Topic string
	Partition                 int32
	Offset, TS                int64
}

// fullRecord reads every part of a record and fails on values that are
// multiples of 7.
func fullRecord(r *kgo.Record) (full, error) {
	i, _ := strconv.Atoi(string(r.Value))
	if i%7 == 0 {
		return full{}, fmt.Errorf("%d is a multiple of 7", i)
	}
	var h string
	for _, hd := range r.Headers {
		if hd.Key == "h" {
			h = string(hd.Value)
		}
	}
	return full{Key: string(r.Key), Value: string(r.Value), Header: h, Topic: r.Topic, Partition: r.Partition,
		Offset: r.Offset, TS: r.Timestamp.UnixMilli()}, nil
}

// TestFullRecordsAndBadRecords reads 30 records of a 3-partition topic
// with a deserializer that sees key, value, headers, topic, partition,
// offset and timestamp and rejects multiples of 7: those go to the
// BadRecords side output with their coordinates and the error, the rest
// to the stream, each exactly as produced.
func TestFullRecordsAndBadRecords(t *testing.T) {
	const n, parts = 30, 3
	brokers := newCluster(t, parts, "in")
	produceKeyed(t, brokers, "in", parts, n)
	env := quietEnv(freshet.WithParallelism(2))
	src := freshet.FromSource(env, &kafka.Source[full]{
		Brokers: brokers, Topics: []string{"in"}, Bounded: true, Deserializer: fullRecord, BadRecords: "bad",
	}, "kafka")
	good := freshet.Collect(src)
	bad := freshet.Collect(freshet.SideOutput(src, freshet.NewOutputTag[kafka.BadRecord]("bad")))
	if err := execute(t, env, "records").Wait(); err != nil {
		t.Fatal(err)
	}
	var wantGood []full
	var wantBad []kafka.BadRecord
	for i := range n {
		p, off := int32(i%parts), int64(i/parts)
		s := strconv.Itoa(i)
		if i%7 == 0 {
			wantBad = append(wantBad, kafka.BadRecord{Topic: "in", Partition: p, Offset: off, Key: []byte("k" + s), Value: []byte(s),
				Timestamp: baseTime + int64(i), Error: s + " is a multiple of 7"})
			continue
		}
		wantGood = append(wantGood, full{Key: "k" + s, Value: s, Header: s, Topic: "in", Partition: p, Offset: off, TS: baseTime + int64(i)})
	}
	gotGood := good.Values()
	slices.SortFunc(gotGood, func(a, b full) int { return int(a.TS - b.TS) })
	if !slices.Equal(gotGood, wantGood) {
		t.Errorf("stream:\n got %+v\nwant %+v", gotGood, wantGood)
	}
	gotBad := bad.Values()
	slices.SortFunc(gotBad, func(a, b kafka.BadRecord) int { return int(a.Timestamp - b.Timestamp) })
	if fmt.Sprint(gotBad) != fmt.Sprint(wantBad) {
		t.Errorf("bad records:\n got %+v\nwant %+v", gotBad, wantBad)
	}
}

// TestBadRecordsSideOutputType: reading the BadRecords side output with
// another type than BadRecord is an invalid program.
func TestBadRecordsSideOutputType(t *testing.T) {
	env := quietEnv()
	src := freshet.FromSource(env, &kafka.Source[string]{
		Brokers: []string{"localhost:1"}, Topics: []string{"in"}, Deserializer: kafka.Strings, BadRecords: "bad",
	}, "kafka")
	freshet.Collect(freshet.SideOutput(src, freshet.NewOutputTag[string]("bad")))
	err := env.Execute(context.Background(), "wrong type")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), "kafka.BadRecord") {
		t.Fatalf("Execute = %v, want ErrInvalidProgram naming kafka.BadRecord", err)
	}
}

// TestValueDeserializer decodes values only.
func TestValueDeserializer(t *testing.T) {
	d := kafka.ValueDeserializer(func(b []byte) (int, error) { return strconv.Atoi(string(b)) })
	if v, err := d(&kgo.Record{Key: []byte("x"), Value: []byte("42")}); v != 42 || err != nil {
		t.Fatalf("got %d, %v", v, err)
	}
}
