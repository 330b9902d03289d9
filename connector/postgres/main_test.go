package postgres_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the
// writers' and readers' pools must be closed with them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
