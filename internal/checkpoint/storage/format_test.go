package storage

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleCheckpoint() *Checkpoint {
	return &Checkpoint{
		ID:         42,
		JobID:      "job-1",
		Timestamp:  time.UnixMilli(1_795_000_000_123).UTC(),
		Properties: map[string][]byte{"a": []byte("1"), "b": {}, "offsets": []byte{0, 1, 2}},
		Files: []File{
			{Name: "map-0-kg0-63-00", Part: keyed("map", 0, 0, 63), Size: 10, CRC32C: 0xdeadbeef},
			{Name: "src-0-op-01", Part: Part{Operator: "src", KeyGroups: NoKeyGroups}, Size: 0, CRC32C: 0},
		},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	want := sampleCheckpoint()
	data := encodeMetadata(want)
	if string(data[:8]) != "FRSHCKPT" || data[8] != 0 || data[9] != FormatVersion {
		t.Fatalf("header % x, want the magic and version %d", data[:10], FormatVersion)
	}
	got, err := decodeMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant %+v", got, want)
	}
	// Every truncation is an error, never a panic.
	for n := range data {
		if _, err := decodeMetadata(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d of %d bytes: %v, want ErrCorrupt", n, len(data), err)
		}
	}
}

func TestMetadataRejectsUnsafeNames(t *testing.T) {
	for _, name := range []string{"", "..", "a/b", "_metadata", "_metadata.inprogress", "x\x00"} {
		c := sampleCheckpoint()
		c.Files[0].Name = name
		if _, err := decodeMetadata(encodeMetadata(c)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("file name %q: %v, want ErrCorrupt", name, err)
		}
	}
	c := sampleCheckpoint()
	c.Files[1].Name = c.Files[0].Name
	if _, err := decodeMetadata(encodeMetadata(c)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a file listed twice: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeMetadata checks that any input decodes without panicking, and
// that what decodes encodes back to an equal checkpoint.
func FuzzDecodeMetadata(f *testing.F) {
	f.Add(encodeMetadata(sampleCheckpoint()))
	f.Add(encodeMetadata(&Checkpoint{JobID: "j"}))
	f.Add([]byte("FRSHCKPT"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("error %v matches neither ErrCorrupt nor ErrUnsupportedVersion", err)
			}
			return
		}
		again, err := decodeMetadata(encodeMetadata(c))
		if err != nil {
			t.Fatalf("re-encoding a decoded checkpoint: %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed %+v to %+v", c, again)
		}
	})
}

// FuzzDecodeMetadataBody fuzzes the body behind a valid header and
// checksum, where the plain fuzzer would rarely get past the CRC.
func FuzzDecodeMetadataBody(f *testing.F) {
	full := encodeMetadata(sampleCheckpoint())
	f.Add(full[headerLen : len(full)-trailerLen])
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte(magic), 0, FormatVersion, 0, 0, 0, 0)
		data[headerLen-4] = byte(len(body) >> 24)
		data[headerLen-3] = byte(len(body) >> 16)
		data[headerLen-2] = byte(len(body) >> 8)
		data[headerLen-1] = byte(len(body))
		data = append(data, body...)
		crc := checksum(data)
		data = append(data, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
		c, err := decodeMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		again, err := decodeMetadata(encodeMetadata(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip of %+v: %+v, %v", c, again, err)
		}
	})
}
