# Sourced by the benchmarks that run zkctl: builds it in release mode under $SCRATCH (unless
# NO_BUILD=1) and sets ZKCTL to it. Needs ROOT (the repository) and SCRATCH.
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    echo "building zkctl (release) ..." >&2
    (cd "$ROOT" && swift build -c release --product zkctl --scratch-path "$SCRATCH" >&2)
fi
ZKCTL="$SCRATCH/release/zkctl"
[[ -x "$ZKCTL" ]] || { echo "no binary at $ZKCTL" >&2; exit 1; }
