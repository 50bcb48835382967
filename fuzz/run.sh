#!/usr/bin/env bash
# Builds the libFuzzer targets (swiftc -sanitize=fuzzer,address) and runs each for SECONDS.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]     SECONDS defaults to 20; targets: multipart urlencoded frames
#
# multipart, urlencoded: Sources/FormParsing compiled with the harness into one module.
# frames: Sources/WorkerProtocol compiled with the harness, linked against NIOCore (and what it needs)
#         from the debug build (`swift build` runs first when that build is missing).
# Seeds and dictionaries are generated (fuzz/make_seeds.py); the corpus grows in fuzz/.work/corpus.
# Exits non-zero when a target crashes (the input is saved in fuzz/.work/artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(multipart urlencoded frames)

work=fuzz/.work
mkdir -p "$work/bin" "$work/artifacts"
rm -rf "$work/seeds"
python3 fuzz/make_seeds.py "$work/seeds"

export SWIFT_BACKTRACE=enable=no  # libFuzzer reports crashes itself
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)

build() {  # target → $work/bin/<target>
    local target=$1
    case $target in
        multipart) swiftc "${flags[@]}" -module-name FormParsing Sources/FormParsing/*.swift fuzz/FuzzMultipart.swift \
                       -o "$work/bin/$target" ;;
        urlencoded) swiftc "${flags[@]}" -module-name FormParsing Sources/FormParsing/*.swift fuzz/FuzzURLEncoded.swift \
                       -o "$work/bin/$target" ;;
        frames)
            if [ ! -f .build/debug/cortex.product/Objects.LinkFileList ] || [ ! -f .build/debug.yaml ]; then
                swift build
            fi
            local objects=() module_flags=()
            mapfile -t objects < <(python3 fuzz/swiftpm_inputs.py objects WorkerProtocol)
            mapfile -t module_flags < <(python3 fuzz/swiftpm_inputs.py flags WorkerProtocol)
            rm -f "$work/deps.a"
            ar rcsT "$work/deps.a" "${objects[@]}"  # a thin archive: only what the harness needs is linked
            swiftc "${flags[@]}" -module-name WorkerProtocol "${module_flags[@]}" Sources/WorkerProtocol/*.swift \
                fuzz/FuzzFrames.swift "$work/deps.a" -o "$work/bin/$target" ;;
        *) echo "unknown fuzz target $target" >&2; return 2 ;;
    esac 2> >(grep -v "ld.gold: warning: Cannot export local symbol" >&2)
}

status=0
summary=()
for target in "${targets[@]}"; do
    echo "== fuzz $target: building"
    build "$target"
    mkdir -p "$work/corpus/$target"
    log="$work/$target.log"
    echo "== fuzz $target: running ${seconds}s"
    set +e
    "$work/bin/$target" "$work/corpus/$target" "$work/seeds/$target" -dict="$work/seeds/$target.dict" \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$target-" >"$log" 2>&1
    code=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    corpus=$(find "$work/corpus/$target" -type f | wc -l)
    if [ $code -ne 0 ]; then
        status=1
        grep -E "ERROR|Fatal error|SUMMARY|Test unit written|==[0-9]+==" "$log" | head -20 >&2 || true
        summary+=("fuzz $target: FAILED (exit $code) runs=${runs:-?} cov=${cov:-?} corpus=$corpus log=$log")
    else
        summary+=("fuzz $target: ok runs=${runs:-?} cov=${cov:-?} corpus=$corpus seconds=$seconds")
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
