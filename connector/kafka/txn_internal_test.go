package kafka

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/freshet-io/freshet/codec"
)

// TestParseTxnID: only the ids the sink makes for its own prefix parse,
// so that the clean-up never touches another prefix's ids.
func TestParseTxnID(t *testing.T) {
	for _, tc := range []struct {
		id      string
		sub     int
		c       int64
		matches bool
	}{
		{"p-0-1", 0, 1, true},
		{"p-12-345", 12, 345, true},
		{txnID("p", 3, 9), 3, 9, true},
		{"p-x-1-2", 0, 0, false}, // prefix p-x
		{"p-1-2-3", 0, 0, false}, // prefix p-1
		{"p-01-2", 0, 0, false},
		{"p-1-02", 0, 0, false},
		{"p-1-", 0, 0, false},
		{"p--1-2", 0, 0, false},
		{"p-1--2", 0, 0, false},
		{"p-1", 0, 0, false},
		{"q-1-2", 0, 0, false},
		{"pp-1-2", 0, 0, false},
	} {
		sub, c, ok := parseTxnID("p", tc.id)
		if ok != tc.matches || ok && (sub != tc.sub || c != tc.c) {
			t.Errorf("parseTxnID(p, %q) = %d, %d, %v; want %d, %d, %v", tc.id, sub, c, ok, tc.sub, tc.c, tc.matches)
		}
	}
}

// TestTxnCodec round-trips a transaction and refuses the earlier format,
// which began with the id's length.
func TestTxnCodec(t *testing.T) {
	want := &txn{ID: "p-2-7", Checkpoint: 7, ProducerID: 1 << 40, Epoch: 3, Written: true}
	b := txnCodec{}.Append(nil, want)
	got, n, err := txnCodec{}.Decode(b)
	if err != nil || n != len(b) || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, %d of %d bytes, %v; want %+v", got, n, len(b), err, want)
	}
	old := binary.AppendUvarint(nil, uint64(len(want.ID)))
	old = append(old, want.ID...)
	if _, _, err := (txnCodec{}).Decode(old); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("decoding the earlier format: %v, want codec.ErrCorrupt", err)
	}
	for i := range b {
		if _, _, err := (txnCodec{}).Decode(b[:i]); !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("decoding %d of %d bytes: %v, want codec.ErrCorrupt", i, len(b), err)
		}
	}
}
