package netx

import (
	"encoding/binary"
	"fmt"
)

// ChannelID names one channel of an exchange by where its producer and its
// consumer run: the producing subtask, the consuming subtask and the index
// of the channel within the consumer's input gate. Attempt tells apart the
// channels of successive attempts of a job (after a failover), so a late
// buffer of an old attempt never reaches a new gate.
type ChannelID struct {
	Job             string
	Attempt         int
	ProducerVertex  int
	ProducerSubtask int
	ConsumerVertex  int
	ConsumerSubtask int
	// Channel is the index of the channel within the consumer's gate.
	Channel int
}

func (id ChannelID) String() string {
	return fmt.Sprintf("%s#%d v%d/%d→v%d/%d[%d]", id.Job, id.Attempt, id.ProducerVertex, id.ProducerSubtask, id.ConsumerVertex, id.ConsumerSubtask, id.Channel)
}

func (id ChannelID) append(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(id.Job)))
	dst = append(dst, id.Job...)
	for _, v := range [...]int{id.Attempt, id.ProducerVertex, id.ProducerSubtask, id.ConsumerVertex, id.ConsumerSubtask, id.Channel} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	return dst
}

func parseChannelID(b []byte) (ChannelID, error) {
	d := decoder{b: b}
	id := ChannelID{Job: d.str("channel id")}
	for _, p := range [...]*int{&id.Attempt, &id.ProducerVertex, &id.ProducerSubtask, &id.ConsumerVertex, &id.ConsumerSubtask, &id.Channel} {
		*p = d.int("channel id")
	}
	return id, d.end("channel id")
}
