package cluster

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/rpc"
)

func TestResourceManagerSlots(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	rm := NewResourceManager(slog.New(slog.DiscardHandler), 10*time.Second)
	rm.now = func() time.Time { return now }
	for _, r := range []rpc.TaskManagerRegistration{{ID: "a", Address: "h:1", Slots: 2}, {ID: "b", Address: "h:2", Slots: 2}} {
		if err := rm.RegisterTaskManager(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rm.RegisterTaskManager(ctx, rpc.TaskManagerRegistration{ID: "c", Address: "h:3"}); err == nil {
		t.Error("a TaskManager without slots registered")
	}
	// A job fills the first TaskManager, then the next.
	got, err := rm.AllocateSlots(ctx, "j1", 3, nil)
	want := []rpc.SlotGrant{{TaskManager: "a", Address: "h:1", Slot: 0}, {TaskManager: "a", Address: "h:1", Slot: 1}, {TaskManager: "b", Address: "h:2", Slot: 0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("allocated %v, %v; want %v", got, err, want)
	}
	if _, err := rm.AllocateSlots(ctx, "j2", 2, nil); !errors.Is(err, jobmanager.ErrNotEnoughSlots) {
		t.Fatalf("over-allocation: %v", err)
	}
	// Allocating again releases the job's slots first; excluded
	// TaskManagers give none.
	got, err = rm.AllocateSlots(ctx, "j1", 2, []string{"a"})
	want = []rpc.SlotGrant{{TaskManager: "b", Address: "h:2", Slot: 0}, {TaskManager: "b", Address: "h:2", Slot: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("reallocated %v, %v; want %v", got, err, want)
	}
	if err := rm.ReleaseSlots(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	for _, tm := range rm.TaskManagers() {
		if tm.FreeSlots != 2 {
			t.Errorf("%s has %d free slots after the release", tm.ID, tm.FreeSlots)
		}
	}

	// A TaskManager that registers again at the same address keeps its
	// allocations; a silent one is forgotten and must register again.
	if _, err := rm.AllocateSlots(ctx, "j3", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := rm.RegisterTaskManager(ctx, rpc.TaskManagerRegistration{ID: "a", Address: "h:1", Slots: 2}); err != nil {
		t.Fatal(err)
	}
	if tms := rm.TaskManagers(); tms[0].FreeSlots != 1 {
		t.Errorf("a re-registered TaskManager lost its allocation: %+v", tms[0])
	}
	now = now.Add(8 * time.Second)
	if err := rm.HeartbeatTaskManager(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(8 * time.Second)
	if err := rm.HeartbeatTaskManager(ctx, "a"); !errors.Is(err, rpc.ErrUnknownTaskManager) {
		t.Fatalf("heartbeat of a TaskManager silent for 16s: %v", err)
	}
	if tms := rm.TaskManagers(); len(tms) != 1 || tms[0].ID != "b" {
		t.Fatalf("TaskManagers after a timeout: %+v", tms)
	}
	// Another process under the same id gets fresh slots, and is not
	// excluded as the process it replaced is.
	if err := rm.RegisterTaskManager(ctx, rpc.TaskManagerRegistration{ID: "b", Address: "h:9", Slots: 3}); err != nil {
		t.Fatal(err)
	}
	if tms := rm.TaskManagers(); tms[0].Address != "h:9" || tms[0].FreeSlots != 3 {
		t.Fatalf("replaced TaskManager: %+v", tms[0])
	}
	if got, err := rm.AllocateSlots(ctx, "j4", 1, []string{"b@h:2"}); err != nil || got[0].Address != "h:9" {
		t.Fatalf("excluding the old process: %v, %v", got, err)
	}
	if _, err := rm.AllocateSlots(ctx, "j4", 1, []string{"b@h:9"}); !errors.Is(err, jobmanager.ErrNotEnoughSlots) {
		t.Fatalf("excluding the new process: %v", err)
	}
}
