.PHONY: test bench fuzz proto image

# IMAGE is the tag `make image` gives the image; IMAGE_DIR the build
# context it assembles (rootfs/: the binary and an empty tmp/); GOARCH the
# architecture of the binary, the host's by default.
IMAGE ?= freshet:dev
IMAGE_DIR ?= build/image
GOARCH ?= $(shell go env GOARCH)

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

# image builds the static freshet binary for Linux on the host (the Docker
# engine has no registry to pull a Go image from) and the FROM-scratch
# image $(IMAGE) around it.
image:
	rm -rf $(IMAGE_DIR)
	mkdir -p $(IMAGE_DIR)/rootfs/tmp
	chmod 1777 $(IMAGE_DIR)/rootfs/tmp
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags='-s -w' -o $(IMAGE_DIR)/rootfs/freshet ./cmd/freshet
	docker build -q -f Dockerfile -t $(IMAGE) $(IMAGE_DIR)
