# The operator image: ensemble-operator, and the fully static ensemble-probe that member pods
# copy in with an init container (at the path the rendered StatefulSets use,
# /usr/local/bin/ensemble-probe). No Docker engine runs where this repository is tested:
# ChartTests checks the paths below against the rendering code; the build itself is plain.
#
#   docker build -t ghcr.io/ensemble-dev/ensemble-operator:0.1.0 .

FROM swift:6.3-noble AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits reuse the resolved packages layer.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
# The probe runs inside the stock ZooKeeper and Cassandra images: no Swift runtime there,
# so it is linked fully static (it uses Glibc and NetCore only).
RUN swift build -c release --product ensemble-probe --static-swift-stdlib -Xswiftc -static-executable -Xlinker -s \
 && swift build -c release --product ensemble-operator --static-swift-stdlib -Xlinker -s \
 && mkdir /out \
 && cp .build/release/ensemble-probe .build/release/ensemble-operator /out/

FROM ubuntu:24.04
# libcurl (the Kubernetes client's transport) and the CA bundle; nothing else.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcurl4t64 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ensemble-operator /usr/local/bin/ensemble-operator
COPY --from=build /out/ensemble-probe /usr/local/bin/ensemble-probe
# glibc malloc tuned for a long-running process that parses many short-lived JSON trees:
# two arenas instead of one per thread (freed memory is reused across threads), and a fixed
# mmap threshold (by default it grows after the first large free, and later large buffers
# then fragment the heap for good). With 1000 Ensembles this is 27 -> 20 MiB of the
# operator's own memory (scripts/bench-operator.sh).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
# Non-root, matching the chart's runAsUser; the root filesystem can be read-only.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ensemble-operator"]
