package task

import (
	"testing"

	"github.com/freshet-io/freshet/internal/exchange"
)

// copyingChannel is a channel that says it copies what it is sent.
type copyingChannel struct{ exchange.ChannelWriter }

func (copyingChannel) CopiesBytes() bool { return true }

// TestCountingWriterCopies: counting a channel's batches keeps whether it
// copies them, so that its record writer still reuses its encoding buffer.
func TestCountingWriterCopies(t *testing.T) {
	for _, c := range []struct {
		name string
		ch   exchange.ChannelWriter
		want bool
	}{{"copying", copyingChannel{}, true}, {"remote", exchange.Remote(nil), false}} {
		var w exchange.ChannelWriter = countingWriter{ChannelWriter: c.ch}
		cc, ok := w.(exchange.CopyingChannel)
		if got := ok && cc.CopiesBytes(); got != c.want {
			t.Errorf("%s: the counted channel copies: %v, want %v", c.name, got, c.want)
		}
	}
}
