package kafka

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/freshet-io/freshet/codec"
)

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
