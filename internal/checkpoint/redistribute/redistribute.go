// Package redistribute decides which restored operator state each subtask
// gets when a job resumes from a checkpoint at a new parallelism, as
// Flink's RoundRobinOperatorStateRepartitioner does:
//
//   - list state (Flink's getListState) is redistributed evenly: the lists
//     of all old subtasks, concatenated in subtask order, are cut into as
//     many nearly equal contiguous parts as there are new subtasks, the
//     first parts one element longer when it does not divide;
//   - union list state (getUnionListState) gives every new subtask all
//     elements of every old subtask;
//   - broadcast state is the same in every subtask, so each new subtask
//     takes one old subtask's copy.
//
// At an unchanged parallelism every subtask gets back exactly what it
// snapshotted. Keyed state does not go through here: it moves by key group
// (see internal/keygroup).
package redistribute

// Even redistributes one named list state: old[i] is what old subtask i
// snapshotted; the result holds the part of each of n new subtasks. At
// n == len(old) every subtask keeps its own list. Otherwise the old
// lists, concatenated in subtask order, are cut into n contiguous parts,
// handed to new subtasks start, start+1, … (mod n); when the length does
// not divide, the first subtasks in that order get one element more. next
// is where the following named state starts, so that from one state to the
// next the extra elements go to other subtasks, as Flink rotates them.
func Even[T any](old [][]T, n, start int) (parts [][]T, next int) {
	parts = make([][]T, n)
	if n == len(old) {
		for i := range old {
			parts[i] = append([]T(nil), old[i]...)
		}
		return parts, start
	}
	var all []T
	for _, l := range old {
		all = append(all, l...)
	}
	size, extra := len(all)/n, len(all)%n
	next = start
	from := 0
	for i := 0; i < n; i++ {
		sub := (i + start) % n
		k := size
		if i < extra {
			k++
		} else if i == extra {
			next = sub
		}
		parts[sub] = append([]T(nil), all[from:from+k]...)
		from += k
	}
	return parts, next
}

// Union gives every one of n new subtasks all elements of every old
// subtask, in old subtask order.
func Union[T any](old [][]T, n int) [][]T {
	var all []T
	for _, l := range old {
		all = append(all, l...)
	}
	out := make([][]T, n)
	for i := range out {
		out[i] = append([]T(nil), all...)
	}
	return out
}

// Broadcast gives each of n new subtasks a copy of broadcast state: new
// subtask i takes old subtask i's copy while there is one, else old
// subtask i mod len(old)'s, so no copy is asked for by more subtasks than
// necessary. It returns, per new subtask, the old subtask to read.
func Broadcast(oldParallelism, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i % oldParallelism
	}
	return out
}
