// Package output reads what examples/counting committed: the tests that run
// the job on a cluster (of processes, or of containers) check it with it.
package output

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Read returns every count of every key in the committed part files in
// dir, each key's counts sorted.
func Read(dir string) (map[int][]int, error) {
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		return nil, err
	}
	out := map[int][]int{}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		for i, r := range rows {
			if len(r) != 2 {
				return nil, fmt.Errorf("%s, line %d: %q, want key,count", p, i+1, r)
			}
			k, err1 := strconv.Atoi(r[0])
			n, err2 := strconv.Atoi(r[1])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s, line %d: %q, want key,count as numbers", p, i+1, r)
			}
			out[k] = append(out[k], n)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out, nil
}

// OnceEach compares sorted counts with from+1 … to, each once: it returns
// those missing, and those extra (there twice, or out of range).
func OnceEach(counts []int, from, to int) (missing, extra []int) {
	for c, i := from+1, 0; c <= to || i < len(counts); {
		switch {
		case i < len(counts) && (counts[i] < c || c > to):
			extra = append(extra, counts[i])
			i++
		case i < len(counts) && counts[i] == c:
			i++
			c++
		default:
			missing = append(missing, c)
			c++
		}
	}
	return missing, extra
}
