package task

import (
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// The conversions between the runtime's types and the plain data of the
// rpc messages that carry them.

// ToRPC returns c as a deployment carries it.
func (c Config) ToRPC() rpc.TaskConfig {
	sb := c.StateBackend
	return rpc.TaskConfig{
		JobName: c.JobName, BatchSize: c.BatchSize, BufferTimeout: c.BufferTimeout, Encode: c.Encode,
		AutoWatermarkInterval: c.AutoWatermarkInterval,
		StateBackend: rpc.StateBackendConfig{
			Kind: sb.Kind, PebbleDir: sb.Pebble.Dir, PebbleCacheSize: sb.Pebble.CacheSize,
			PebbleMemTableSize: sb.Pebble.MemTableSize, PebbleEntryCacheSize: sb.Pebble.EntryCacheSize,
			PebbleIncremental: sb.Pebble.Incremental, PebbleLocalRoot: sb.Pebble.LocalRoot,
		},
	}
}

// ConfigFromRPC returns the Config a deployment carries.
func ConfigFromRPC(c rpc.TaskConfig) Config {
	sb := c.StateBackend
	return Config{
		JobName: c.JobName, BatchSize: c.BatchSize, BufferTimeout: c.BufferTimeout, Encode: c.Encode,
		AutoWatermarkInterval: c.AutoWatermarkInterval,
		StateBackend: statebackend.Config{Kind: sb.Kind, Pebble: statebackend.PebbleOptions{
			Dir: sb.PebbleDir, CacheSize: sb.PebbleCacheSize, MemTableSize: sb.PebbleMemTableSize,
			EntryCacheSize: sb.PebbleEntryCacheSize, Incremental: sb.PebbleIncremental, LocalRoot: sb.PebbleLocalRoot,
		}},
	}
}

// ToRPC returns o as a message carries it.
func (o TriggerOptions) ToRPC() rpc.TriggerOptions {
	return rpc.TriggerOptions{Stop: o.Stop, Drain: o.Drain, Savepoint: o.Savepoint}
}

// TriggerOptionsFromRPC returns the options a message carries.
func TriggerOptionsFromRPC(o rpc.TriggerOptions) TriggerOptions {
	return TriggerOptions{Stop: o.Stop, Drain: o.Drain, Savepoint: o.Savepoint}
}

// ModeToRPC returns a barrier mode as a deployment carries it.
func ModeToRPC(m barrier.Mode) rpc.CheckpointMode { return rpc.CheckpointMode(m) }

// ModeFromRPC returns the barrier mode a deployment carries.
func ModeFromRPC(m rpc.CheckpointMode) barrier.Mode { return barrier.Mode(m) }

// StorageRef returns how a message names s.
func StorageRef(s *storage.Storage) rpc.StorageRef {
	return rpc.StorageRef{Location: s.Location(), Job: s.Job()}
}

// FilesToRPC returns state files as a message carries them.
func FilesToRPC(files []storage.File) []rpc.StateFile {
	if files == nil {
		return nil
	}
	out := make([]rpc.StateFile, len(files))
	for i, f := range files {
		out[i] = rpc.StateFile{Name: f.Name, Operator: f.Part.Operator, Subtask: f.Part.Subtask,
			KeyGroups: rpc.KeyGroupRange{Start: f.Part.KeyGroups.Start, End: f.Part.KeyGroups.End},
			Size:      f.Size, CRC32C: f.CRC32C, Shared: f.Shared}
	}
	return out
}

// FilesFromRPC returns the state files a message carries.
func FilesFromRPC(files []rpc.StateFile) []storage.File {
	if files == nil {
		return nil
	}
	out := make([]storage.File, len(files))
	for i, f := range files {
		out[i] = storage.File{Name: f.Name,
			Part: storage.Part{Operator: f.Operator, Subtask: f.Subtask, KeyGroups: storage.KeyGroupRange{Start: f.KeyGroups.Start, End: f.KeyGroups.End}},
			Size: f.Size, CRC32C: f.CRC32C, Shared: f.Shared}
	}
	return out
}

// CheckpointToRPC returns a completed checkpoint's metadata as a message
// carries it.
func CheckpointToRPC(c *storage.Checkpoint) rpc.Checkpoint {
	return rpc.Checkpoint{ID: c.ID, JobID: c.JobID, TimestampMillis: c.Timestamp.UnixMilli(), Properties: c.Properties, Files: FilesToRPC(c.Files)}
}

// CheckpointFromRPC returns the checkpoint metadata a message carries.
func CheckpointFromRPC(c rpc.Checkpoint) *storage.Checkpoint {
	return &storage.Checkpoint{ID: c.ID, JobID: c.JobID, Timestamp: time.UnixMilli(c.TimestampMillis).UTC(), Properties: c.Properties, Files: FilesFromRPC(c.Files)}
}
