package grpcrpc

import (
	"time"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// The conversions between package rpc's messages and rpcpb's, both ways:
// xToPB and xFromPB for every message type. A nil pointer stays nil (a
// sub-message that is absent); a struct value is always a sub-message, and
// an absent one converts to the zero value. An empty slice or map converts
// to nil, as protobuf does not tell empty from absent. The roundtrip test
// fills every field of every message, so a field missing here fails it.

func execToPB(e rpc.ExecutionID) *rpcpb.ExecutionID {
	return &rpcpb.ExecutionID{Job: string(e.Job), Vertex: int64(e.Vertex), Subtask: int64(e.Subtask), Attempt: int64(e.Attempt)}
}

func execFromPB(e *rpcpb.ExecutionID) rpc.ExecutionID {
	return rpc.ExecutionID{Job: rpc.JobID(e.GetJob()), Vertex: int(e.GetVertex()), Subtask: int(e.GetSubtask()), Attempt: int(e.GetAttempt())}
}

func serializedErrorToPB(se *rpc.SerializedError) *rpcpb.SerializedError {
	if se == nil {
		return nil
	}
	// Local is a handle into the sender's error table: it does not cross.
	return &rpcpb.SerializedError{Message: se.Message, Type: se.Type, Causes: mapSlice(se.Causes, errorFrameToPB), Codes: stringsOrNil(se.Codes)}
}

func serializedErrorFromPB(se *rpcpb.SerializedError) *rpc.SerializedError {
	if se == nil {
		return nil
	}
	return &rpc.SerializedError{Message: se.GetMessage(), Type: se.GetType(), Causes: mapSlice(se.GetCauses(), errorFrameFromPB), Codes: stringsOrNil(se.GetCodes())}
}

func errorFrameToPB(f rpc.ErrorFrame) *rpcpb.ErrorFrame {
	return &rpcpb.ErrorFrame{Message: f.Message, Type: f.Type}
}

func errorFrameFromPB(f *rpcpb.ErrorFrame) rpc.ErrorFrame {
	return rpc.ErrorFrame{Message: f.GetMessage(), Type: f.GetType()}
}

func graphRefToPB(g rpc.GraphRef) *rpcpb.GraphRef {
	return &rpcpb.GraphRef{Job: string(g.Job), Name: g.Name, Fingerprint: g.Fingerprint}
}

func graphRefFromPB(g *rpcpb.GraphRef) rpc.GraphRef {
	return rpc.GraphRef{Job: rpc.JobID(g.GetJob()), Name: g.GetName(), Fingerprint: g.GetFingerprint()}
}

func stateBackendToPB(c rpc.StateBackendConfig) *rpcpb.StateBackendConfig {
	return &rpcpb.StateBackendConfig{
		Kind:                 c.Kind,
		PebbleDir:            c.PebbleDir,
		PebbleCacheSize:      c.PebbleCacheSize,
		PebbleMemTableSize:   c.PebbleMemTableSize,
		PebbleEntryCacheSize: c.PebbleEntryCacheSize,
		PebbleIncremental:    c.PebbleIncremental,
		PebbleLocalRoot:      c.PebbleLocalRoot,
	}
}

func stateBackendFromPB(c *rpcpb.StateBackendConfig) rpc.StateBackendConfig {
	return rpc.StateBackendConfig{
		Kind:                 c.GetKind(),
		PebbleDir:            c.GetPebbleDir(),
		PebbleCacheSize:      c.GetPebbleCacheSize(),
		PebbleMemTableSize:   c.GetPebbleMemTableSize(),
		PebbleEntryCacheSize: c.GetPebbleEntryCacheSize(),
		PebbleIncremental:    c.GetPebbleIncremental(),
		PebbleLocalRoot:      c.GetPebbleLocalRoot(),
	}
}

func taskConfigToPB(c rpc.TaskConfig) *rpcpb.TaskConfig {
	return &rpcpb.TaskConfig{
		JobName:                    c.JobName,
		BatchSize:                  int64(c.BatchSize),
		BufferTimeoutNanos:         int64(c.BufferTimeout),
		Encode:                     c.Encode,
		AutoWatermarkIntervalNanos: int64(c.AutoWatermarkInterval),
		StateBackend:               stateBackendToPB(c.StateBackend),
	}
}

func taskConfigFromPB(c *rpcpb.TaskConfig) rpc.TaskConfig {
	return rpc.TaskConfig{
		JobName:               c.GetJobName(),
		BatchSize:             int(c.GetBatchSize()),
		BufferTimeout:         time.Duration(c.GetBufferTimeoutNanos()),
		Encode:                c.GetEncode(),
		AutoWatermarkInterval: time.Duration(c.GetAutoWatermarkIntervalNanos()),
		StateBackend:          stateBackendFromPB(c.GetStateBackend()),
	}
}

func locationToPB(l rpc.SubtaskLocation) *rpcpb.SubtaskLocation {
	return &rpcpb.SubtaskLocation{Vertex: int64(l.Vertex), Subtask: int64(l.Subtask), TaskManager: l.TaskManager}
}

func locationFromPB(l *rpcpb.SubtaskLocation) rpc.SubtaskLocation {
	return rpc.SubtaskLocation{Vertex: int(l.GetVertex()), Subtask: int(l.GetSubtask()), TaskManager: l.GetTaskManager()}
}

func storageRefToPB(s rpc.StorageRef) *rpcpb.StorageRef {
	return &rpcpb.StorageRef{Location: s.Location, Job: s.Job}
}

func storageRefFromPB(s *rpcpb.StorageRef) rpc.StorageRef {
	return rpc.StorageRef{Location: s.GetLocation(), Job: s.GetJob()}
}

func checkpointDeploymentToPB(c *rpc.CheckpointDeployment) *rpcpb.CheckpointDeployment {
	if c == nil {
		return nil
	}
	return &rpcpb.CheckpointDeployment{Mode: uint32(c.Mode), AlignedTimeoutNanos: int64(c.AlignedTimeout), Storage: storageRefToPB(c.Storage), Final: c.Final}
}

func checkpointDeploymentFromPB(c *rpcpb.CheckpointDeployment) *rpc.CheckpointDeployment {
	if c == nil {
		return nil
	}
	return &rpc.CheckpointDeployment{Mode: rpc.CheckpointMode(c.GetMode()), AlignedTimeout: time.Duration(c.GetAlignedTimeoutNanos()), Storage: storageRefFromPB(c.GetStorage()), Final: c.GetFinal()}
}

func keyGroupsToPB(r rpc.KeyGroupRange) *rpcpb.KeyGroupRange {
	return &rpcpb.KeyGroupRange{Start: int64(r.Start), End: int64(r.End)}
}

func keyGroupsFromPB(r *rpcpb.KeyGroupRange) rpc.KeyGroupRange {
	return rpc.KeyGroupRange{Start: int(r.GetStart()), End: int(r.GetEnd())}
}

func stateFileToPB(f rpc.StateFile) *rpcpb.StateFile {
	return &rpcpb.StateFile{Name: f.Name, Operator: f.Operator, Subtask: int64(f.Subtask), KeyGroups: keyGroupsToPB(f.KeyGroups), Size: f.Size, Crc32C: f.CRC32C, Shared: f.Shared}
}

func stateFileFromPB(f *rpcpb.StateFile) rpc.StateFile {
	return rpc.StateFile{Name: f.GetName(), Operator: f.GetOperator(), Subtask: int(f.GetSubtask()), KeyGroups: keyGroupsFromPB(f.GetKeyGroups()), Size: f.GetSize(), CRC32C: f.GetCrc32C(), Shared: f.GetShared()}
}

func checkpointToPB(c rpc.Checkpoint) *rpcpb.Checkpoint {
	return &rpcpb.Checkpoint{Id: c.ID, JobId: c.JobID, TimestampMillis: c.TimestampMillis, Properties: mapOrNil(c.Properties), Files: mapSlice(c.Files, stateFileToPB)}
}

func checkpointFromPB(c *rpcpb.Checkpoint) rpc.Checkpoint {
	return rpc.Checkpoint{ID: c.GetId(), JobID: c.GetJobId(), TimestampMillis: c.GetTimestampMillis(), Properties: mapOrNil(c.GetProperties()), Files: mapSlice(c.GetFiles(), stateFileFromPB)}
}

func restoreToPB(r *rpc.RestoreDeployment) *rpcpb.RestoreDeployment {
	if r == nil {
		return nil
	}
	return &rpcpb.RestoreDeployment{Storage: storageRefToPB(r.Storage), Checkpoint: checkpointToPB(r.Checkpoint)}
}

func restoreFromPB(r *rpcpb.RestoreDeployment) *rpc.RestoreDeployment {
	if r == nil {
		return nil
	}
	return &rpc.RestoreDeployment{Storage: storageRefFromPB(r.GetStorage()), Checkpoint: checkpointFromPB(r.GetCheckpoint())}
}

func deploymentToPB(d rpc.TaskDeployment) *rpcpb.TaskDeployment {
	return &rpcpb.TaskDeployment{
		Exec:                     execToPB(d.Exec),
		Graph:                    graphRefToPB(d.Graph),
		Config:                   taskConfigToPB(d.Config),
		CancellationTimeoutNanos: int64(d.CancellationTimeout),
		Checkpoints:              checkpointDeploymentToPB(d.Checkpoints),
		Restore:                  restoreToPB(d.Restore),
		Slot:                     int64(d.Slot),
		TaskManager:              d.TaskManager,
		Consumers:                mapSlice(d.Consumers, locationToPB),
		Producers:                mapSlice(d.Producers, locationToPB),
		DataAddresses:            mapOrNil(d.DataAddresses),
	}
}

func deploymentFromPB(d *rpcpb.TaskDeployment) rpc.TaskDeployment {
	return rpc.TaskDeployment{
		Exec:                execFromPB(d.GetExec()),
		Graph:               graphRefFromPB(d.GetGraph()),
		Config:              taskConfigFromPB(d.GetConfig()),
		CancellationTimeout: time.Duration(d.GetCancellationTimeoutNanos()),
		Checkpoints:         checkpointDeploymentFromPB(d.GetCheckpoints()),
		Restore:             restoreFromPB(d.GetRestore()),
		Slot:                int(d.GetSlot()),
		TaskManager:         d.GetTaskManager(),
		Consumers:           mapSlice(d.GetConsumers(), locationFromPB),
		Producers:           mapSlice(d.GetProducers(), locationFromPB),
		DataAddresses:       mapOrNil(d.GetDataAddresses()),
	}
}

func triggerOptionsToPB(o rpc.TriggerOptions) *rpcpb.TriggerOptions {
	return &rpcpb.TriggerOptions{Stop: o.Stop, Drain: o.Drain, Savepoint: o.Savepoint}
}

func triggerOptionsFromPB(o *rpcpb.TriggerOptions) rpc.TriggerOptions {
	return rpc.TriggerOptions{Stop: o.GetStop(), Drain: o.GetDrain(), Savepoint: o.GetSavepoint()}
}

func taskUpdateToPB(u rpc.TaskUpdate) *rpcpb.TaskUpdate {
	return &rpcpb.TaskUpdate{Exec: execToPB(u.Exec), State: rpcpb.TaskState(u.State), Err: serializedErrorToPB(u.Err)}
}

func taskUpdateFromPB(u *rpcpb.TaskUpdate) rpc.TaskUpdate {
	return rpc.TaskUpdate{Exec: execFromPB(u.GetExec()), State: rpc.TaskState(u.GetState()), Err: serializedErrorFromPB(u.GetErr())}
}

func ackToPB(a rpc.CheckpointAck) *rpcpb.CheckpointAck {
	return &rpcpb.CheckpointAck{Exec: execToPB(a.Exec), Checkpoint: a.Checkpoint, Files: mapSlice(a.Files, stateFileToPB), Size: a.Size}
}

func ackFromPB(a *rpcpb.CheckpointAck) rpc.CheckpointAck {
	return rpc.CheckpointAck{Exec: execFromPB(a.GetExec()), Checkpoint: a.GetCheckpoint(), Files: mapSlice(a.GetFiles(), stateFileFromPB), Size: a.GetSize()}
}

func declineToPB(d rpc.CheckpointDecline) *rpcpb.CheckpointDecline {
	return &rpcpb.CheckpointDecline{Exec: execToPB(d.Exec), Checkpoint: d.Checkpoint, Err: serializedErrorToPB(d.Err)}
}

func declineFromPB(d *rpcpb.CheckpointDecline) rpc.CheckpointDecline {
	return rpc.CheckpointDecline{Exec: execFromPB(d.GetExec()), Checkpoint: d.GetCheckpoint(), Err: serializedErrorFromPB(d.GetErr())}
}

func finalWantedToPB(w rpc.FinalCheckpointWanted) *rpcpb.FinalCheckpointWanted {
	return &rpcpb.FinalCheckpointWanted{Exec: execToPB(w.Exec)}
}

func finalWantedFromPB(w *rpcpb.FinalCheckpointWanted) rpc.FinalCheckpointWanted {
	return rpc.FinalCheckpointWanted{Exec: execFromPB(w.GetExec())}
}

func registrationToPB(r rpc.TaskManagerRegistration) *rpcpb.TaskManagerRegistration {
	return &rpcpb.TaskManagerRegistration{Id: r.ID, Address: r.Address, Slots: int64(r.Slots)}
}

func registrationFromPB(r *rpcpb.TaskManagerRegistration) rpc.TaskManagerRegistration {
	return rpc.TaskManagerRegistration{ID: r.GetId(), Address: r.GetAddress(), Slots: int(r.GetSlots())}
}

func slotGrantToPB(g rpc.SlotGrant) *rpcpb.SlotGrant {
	return &rpcpb.SlotGrant{TaskManager: g.TaskManager, Address: g.Address, Slot: int64(g.Slot)}
}

func slotGrantFromPB(g *rpcpb.SlotGrant) rpc.SlotGrant {
	return rpc.SlotGrant{TaskManager: g.GetTaskManager(), Address: g.GetAddress(), Slot: int(g.GetSlot())}
}

func jobMasterToPB(r rpc.JobMasterRegistration) *rpcpb.JobMasterRegistration {
	return &rpcpb.JobMasterRegistration{Job: string(r.Job), Name: r.Name, Address: r.Address, RestAddress: r.RESTAddress}
}

func jobMasterFromPB(r *rpcpb.JobMasterRegistration) rpc.JobMasterRegistration {
	return rpc.JobMasterRegistration{Job: rpc.JobID(r.GetJob()), Name: r.GetName(), Address: r.GetAddress(), RESTAddress: r.GetRestAddress()}
}

func archiveToPB(a rpc.JobArchive) *rpcpb.JobArchive {
	return &rpcpb.JobArchive{Job: string(a.Job), Status: a.Status, Documents: mapOrNil(a.Documents)}
}

func archiveFromPB(a *rpcpb.JobArchive) rpc.JobArchive {
	return rpc.JobArchive{Job: rpc.JobID(a.GetJob()), Status: a.GetStatus(), Documents: mapOrNil(a.GetDocuments())}
}

func jobStartToPB(s rpc.JobStart) *rpcpb.JobStart {
	return &rpcpb.JobStart{Job: string(s.Job), Artifact: s.Artifact, Checksum: s.Checksum, Dispatcher: s.Dispatcher, JobMaster: s.JobMaster, Args: stringsOrNil(s.Args), Env: stringsOrNil(s.Env)}
}

func jobStartFromPB(s *rpcpb.JobStart) rpc.JobStart {
	return rpc.JobStart{Job: rpc.JobID(s.GetJob()), Artifact: s.GetArtifact(), Checksum: s.GetChecksum(), Dispatcher: s.GetDispatcher(), JobMaster: s.GetJobMaster(), Args: stringsOrNil(s.GetArgs()), Env: stringsOrNil(s.GetEnv())}
}

func workerToPB(w rpc.Worker) *rpcpb.Worker {
	return &rpcpb.Worker{DataAddress: w.DataAddress, MetricsAddress: w.MetricsAddress}
}

func workerFromPB(w *rpcpb.Worker) rpc.Worker {
	return rpc.Worker{DataAddress: w.GetDataAddress(), MetricsAddress: w.GetMetricsAddress()}
}

// mapSlice converts every element with f; an empty slice is nil.
func mapSlice[T, U any](s []T, f func(T) U) []U {
	if len(s) == 0 {
		return nil
	}
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// stringsOrNil is s, or nil when s is empty.
func stringsOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// mapOrNil is m, or nil when m is empty. Messages are not retained by
// grpc once a call returns, so the map is shared, not copied.
func mapOrNil[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}
