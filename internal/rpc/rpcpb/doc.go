// Package rpcpb is the Go code protoc generates from
// proto/freshet/v1/cluster.proto: the messages and gRPC services of the
// control plane. Do not edit the *.pb.go files; change the proto file and
// run `make proto`. Package grpcrpc converts between these messages and
// package rpc's types, which the rest of Freshet uses.
package rpcpb
