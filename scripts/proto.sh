#!/bin/sh
# Regenerates the control plane's Go code (internal/rpc/rpcpb) from
# proto/freshet/v1/*.proto. It installs what is missing first:
#
#   protoc               Debian's protobuf-compiler (apt-get; needs root)
#   protoc-gen-go        google.golang.org/protobuf, the version go.mod requires
#   protoc-gen-go-grpc   pinned below
#
# The two plugins go to FRESHET_TOOLS (default .tools/bin in the module),
# rebuilt when their version changes. Run it as `make proto`.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)

# The generated code must match the runtime go.mod requires: protoc-gen-go
# comes from the same google.golang.org/protobuf; protoc-gen-go-grpc v1.6
# writes code for grpc v1.64 and later.
protobuf_version=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
grpc_plugin_version=v1.6.2

tools=${FRESHET_TOOLS:-$root/.tools/bin}
mkdir -p "$tools"

if ! command -v protoc >/dev/null 2>&1; then
	apt-get update
	apt-get install -y protobuf-compiler
fi

# install_tool PACKAGE VERSION BINARY: go install into $tools unless the binary
# there was built from that version.
install_tool() {
	stamp="$tools/.$3.version"
	if [ -x "$tools/$3" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$2" ]; then
		return 0
	fi
	GOBIN="$tools" go install "$1@$2"
	echo "$2" >"$stamp"
}
install_tool google.golang.org/protobuf/cmd/protoc-gen-go "$protobuf_version" protoc-gen-go
install_tool google.golang.org/grpc/cmd/protoc-gen-go-grpc "$grpc_plugin_version" protoc-gen-go-grpc

rm -f internal/rpc/rpcpb/*.pb.go
PATH="$tools:$PATH" protoc \
	--proto_path=proto \
	--go_out=. --go_opt=module=github.com/freshet-io/freshet \
	--go-grpc_out=. --go-grpc_opt=module=github.com/freshet-io/freshet \
	proto/freshet/v1/*.proto
echo "generated: $(ls internal/rpc/rpcpb/*.pb.go | tr '\n' ' ')"
