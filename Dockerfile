# The freshet image: the static freshet binary and an empty, writable /tmp
# (uploaded job programs, workers' state) on an empty base, so no image is
# pulled from a registry. `make image` builds it: the binary is built on the
# host (CGO_ENABLED=0 GOOS=linux) into build/image/rootfs beside an empty
# tmp/ of mode 1777; build/image is this build's context.
FROM scratch
# The tree is copied whole, not tmp on its own: COPY keeps the mode of the
# directories it copies but gives a destination it creates 0755, and /tmp
# must be writable by any user.
COPY rootfs /
# Any user may run it; 65532 is nobody's in particular.
USER 65532:65532
ENV TMPDIR=/tmp
# The JobManager's REST API and RPC ports (rest.port, jobmanager.rpc.port).
EXPOSE 8081 6123
ENTRYPOINT ["/freshet"]
