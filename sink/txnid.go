package sink

import (
	"strconv"
	"strings"
)

// TransactionIDs names the external transactions of a transactional sink
// (Kafka's transactional ids, PostgreSQL's prepared transactions) so that
// a restored job can tell which of those an earlier run left open it must
// end. An id is "Prefix-subtask-checkpoint": the subtask that opened it
// and the checkpoint that commits it.
//
// After a restore from checkpoint C (or a fresh start, C = 0), ids naming
// a checkpoint up to C are the restored state's — committed already, or
// committed by the subtask the state went to — and those naming a later
// one were left open by the failed run: Lingering picks, for new subtask
// k of p, those whose old subtask i has i mod p == k. Every old index
// maps to exactly one new subtask, whatever the old parallelism, and a new
// subtask's own ids map to itself, so no two subtasks end the same id and
// none ends another's: each ends its lingering ids before it opens its
// first transaction.
type TransactionIDs struct {
	// Prefix is the sink's, distinct from every other sink's that
	// writes to the same system.
	Prefix string
}

// Name is the id of subtask's transaction committed by checkpoint.
func (t TransactionIDs) Name(subtask int, checkpoint int64) string {
	return t.Prefix + "-" + strconv.Itoa(subtask) + "-" + strconv.FormatInt(checkpoint, 10)
}

// Parse returns the subtask and checkpoint id names; ok is false for an
// id of another prefix (a longer one such as "Prefix-x" included) or not
// in Name's form.
func (t TransactionIDs) Parse(id string) (subtask int, checkpoint int64, ok bool) {
	rest, ok := strings.CutPrefix(id, t.Prefix+"-")
	if !ok {
		return 0, 0, false
	}
	sub, ck, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	i, err := strconv.Atoi(sub)
	if err != nil || i < 0 || strconv.Itoa(i) != sub {
		return 0, 0, false
	}
	c, err := strconv.ParseInt(ck, 10, 64)
	if err != nil || c < 0 || strconv.FormatInt(c, 10) != ck {
		return 0, 0, false
	}
	return i, c, true
}

// Lingering reports whether subtask (of parallelism) must end the
// transaction id after a restore from checkpoint restored (0: a fresh
// start): an id of the prefix naming a checkpoint after restored, opened
// by an old subtask that maps to this one.
func (t TransactionIDs) Lingering(id string, subtask, parallelism int, restored int64) bool {
	sub, c, ok := t.Parse(id)
	return ok && parallelism > 0 && sub%parallelism == subtask && c > restored
}
