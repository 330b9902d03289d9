package kafka

import "testing"

// TestOwner checks the reader of partition 1 against Flink's
// KafkaSourceEnumerator rule, (hashCode(topic)*31 & 0x7FFFFFFF) %
// parallelism + partition, mod parallelism, with Java's String.hashCode
// worked out by hand.
func TestOwner(t *testing.T) {
	cases := []struct {
		topic string
		hash  int32
		want  []int // partition 1's reader at parallelism 2, 3, 5, 7
	}{
		{"hello", 99162322, []int{1, 0, 0, 6}},
		{"orders", -1008770331, []int{0, 1, 0, 4}},
		{"ev-b", 3123782, []int{1, 0, 3, 6}},
		{"topic-éa", -957336074, []int{1, 0, 4, 2}},
	}
	for _, tc := range cases {
		if h := javaHash(tc.topic); h != tc.hash {
			t.Errorf("javaHash(%q) = %d, want %d", tc.topic, h, tc.hash)
		}
		for i, par := range []int{2, 3, 5, 7} {
			if got := owner(tc.topic, 1, par); got != tc.want[i] {
				t.Errorf("owner(%q, 1, %d) = %d, want %d", tc.topic, par, got, tc.want[i])
			}
			// Partitions of a topic go round-robin from partition 0's reader.
			if a, b := owner(tc.topic, 0, par), owner(tc.topic, int32(par), par); a != b || (a+1)%par != owner(tc.topic, 1, par) {
				t.Errorf("%q at parallelism %d: partitions are not assigned round-robin", tc.topic, par)
			}
		}
	}
}
