.PHONY: test bench fuzz proto

# test is what CI runs: vet plus the race-enabled suite over the module.
test:
	go vet ./...
	go test -race -timeout 15m ./...

bench:
	go test ./bench -run '^$$' -bench . -benchtime 2s

fuzz:
	go test ./codec -run '^$$' -fuzz FuzzDecodeSample -fuzztime 30s
	go test ./internal/checkpoint/storage -run '^$$' -fuzz 'FuzzDecodeMetadata$$' -fuzztime 30s
	go test ./internal/checkpoint/storage -run '^$$' -fuzz FuzzDecodeMetadataBody -fuzztime 30s
	go test ./internal/statebackend -run '^$$' -fuzz FuzzRestore -fuzztime 30s
	go test ./freshettest -run '^$$' -fuzz FuzzRestoreHarness -fuzztime 30s
	go test ./internal/config -run '^$$' -fuzz FuzzLoadYAML -fuzztime 30s

# proto regenerates internal/rpc/rpcpb from proto/ (installing protoc and
# the pinned plugins when missing).
proto:
	sh scripts/proto.sh
