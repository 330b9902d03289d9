package file

import "time"

// SourceClock sets the clock of a source's enumerator.
func SourceClock(now func() time.Time) SourceOption {
	return func(c *sourceConfig) { c.now = now }
}
