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
# Two malloc arenas instead of one per thread: freed memory is reused across threads, which
# keeps the operator's footprint flat (about 7 MiB less with 1000 Ensembles, see the README).
ENV MALLOC_ARENA_MAX=2
# Non-root, matching the chart's runAsUser; the root filesystem can be read-only.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ensemble-operator"]
