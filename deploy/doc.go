// Package deploy holds Freshet's deployment artifacts that are not Go: the
// Kubernetes manifests under kubernetes/. Its tests keep them, the image
// (the Dockerfile and `make image`), scripts/compose.sh and
// docs/deployment.md in agreement with the code: the manifests' ports and
// names with the configuration they carry, the image with the binary, the
// documented keys with internal/config.
package deploy
