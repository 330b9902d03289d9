package file

import (
	"errors"
	"slices"
	"testing"

	"github.com/freshet-io/freshet/codec"
)

func TestTxnCodec(t *testing.T) {
	in := &txn{parts: []string{"2026-11-29/part-0a1b2c3d-0-0.csv", "part-0a1b2c3d-0-1.csv", ""}, writer: "part-0a1b2c3d-0-", first: 300}
	b := txnCodec{}.Append([]byte("x"), in)[1:]
	out, n, err := txnCodec{}.Decode(b)
	if err != nil || n != len(b) || !slices.Equal(out.parts, in.parts) || out.writer != in.writer || out.first != in.first {
		t.Fatalf("decoded %v (%d of %d bytes, %v), want %v", out, n, len(b), err, in.parts)
	}
	for i := range len(b) {
		if _, _, err := (txnCodec{}).Decode(b[:i]); !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("decoding %d of %d bytes: %v, want ErrCorrupt", i, len(b), err)
		}
	}
}
