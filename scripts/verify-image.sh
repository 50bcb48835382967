#!/usr/bin/env bash
# Verifies what `cortex cluster build` puts in an image, where no container engine runs:
#   1. builds the static binary once (swift build -c release --static-swift-stdlib --scratch-path
#      .build-static; incremental afterwards);
#   2. writes the build context for an example with that binary (its default: itself, static);
#   3. assembles Debian bookworm with debootstrap (--variant=minbase, what debian:bookworm-slim is;
#      cached as a tarball for later runs), standing for the Dockerfile's FROM;
#   4. replays the Dockerfile's steps in it with chroot (scripts/replay_dockerfile.py): apt-get of
#      python3, the venv, the environment's pip install, the COPYs;
#   5. runs the Deployment's args (from `cortex cluster render`) after the image's ENTRYPOINT inside the
#      root with chroot — only the port changed, so a shared machine's 8888 is left alone — waits for
#      /readyz, calls the API with curl on loopback, and stops it with SIGTERM as Kubernetes would.
# Needs root (chroot, mounts), debootstrap (apt-get install debootstrap) and Debian's mirror + PyPI.
#
# usage: sudo bash scripts/verify-image.sh [EXAMPLE]   (default examples/echo)
#   VERIFY_DIR (default ${TMPDIR:-/tmp}/cortex-verify-image), PORT (default 18888),
#   PAYLOAD (JSON posted to the endpoint; default {"text": "hello"}), MIRROR (Debian mirror),
#   BUILD_CA (a CA bundle the build steps' pip must trust, e.g. a TLS-inspecting proxy's; default: the
#   host's /etc/ssl/certs/ca-certificates.crt when /usr/local/share/ca-certificates holds extra CAs;
#   "none" for none). It is given to the RUN steps only, as PIP_CERT, and removed before measuring.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
example=${1:-examples/echo}
work=${VERIFY_DIR:-${TMPDIR:-/tmp}/cortex-verify-image}
port=${PORT:-18888}
payload=${PAYLOAD:-'{"text": "hello"}'}
mirror=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "verify-image.sh needs root (chroot and mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "install debootstrap first: apt-get install debootstrap" >&2; exit 1; }
mkdir -p "$work"
rootfs=$work/rootfs
seconds() { date +%s; }

mounted=()
server=
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== 1. the static binary (swift build -c release --static-swift-stdlib --scratch-path .build-static)"
t=$(seconds)
swift build -c release --static-swift-stdlib --scratch-path .build-static --product cortex 2>&1 | tail -1
bin=$repo/.build-static/release/cortex
echo "   $(ls -la "$bin" | awk '{print $5}') bytes, built in $(($(seconds) - t)) s; libraries it loads:"
ldd "$bin" | sed 's/^/     /'

echo "== 2. the build context for $example"
rm -rf "$work/context"
"$bin" cluster build "$example" --tag cortex-verify:latest -o "$work/context"
cat "$work/context/Dockerfile" | sed 's/^/   | /'

echo "== 3. Debian bookworm (debootstrap --variant=minbase), for FROM debian:bookworm-slim"
t=$(seconds)
if [ ! -f "$work/bookworm-minbase.tar" ]; then
    rm -rf "$work/base"
    debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; exit 1; }
    tar -C "$work/base" -cf "$work/bookworm-minbase.tar" .
    rm -rf "$work/base"
fi
rm -rf "$rootfs" && mkdir -p "$rootfs" && tar -C "$rootfs" -xf "$work/bookworm-minbase.tar"
base_bytes=$(du -sxb "$rootfs" | cut -f1)
echo "   base root: $((base_bytes / 1024 / 1024)) MiB ($(($(seconds) - t)) s)"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc" && mounted+=("$rootfs/proc")
mount --bind /dev "$rootfs/dev" && mounted+=("$rootfs/dev")

echo "== 4. the Dockerfile's steps, replayed with chroot"
t=$(seconds)
build_env=()
ca=${BUILD_CA:-}
if [ -z "$ca" ] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    ca=/etc/ssl/certs/ca-certificates.crt
fi
if [ -n "$ca" ] && [ "$ca" != none ]; then
    cp "$ca" "$rootfs/tmp/build-ca.crt"
    build_env=(PIP_CERT=/tmp/build-ca.crt)
    echo "   the RUN steps trust $ca (PIP_CERT; build steps only)"
fi
python3 scripts/replay_dockerfile.py "$work/context" "$rootfs" "$work/image-config.json" "${build_env[@]}"
rm -f "$rootfs/tmp/build-ca.crt"
build_seconds=$(($(seconds) - t))
image_bytes=$(du -sxb "$rootfs" | cut -f1)
echo "   replayed in $build_seconds s; the image's root: $((image_bytes / 1024 / 1024)) MiB" \
    "($(((image_bytes - base_bytes) / 1024 / 1024)) MiB over the base; python env $(du -sxm "$rootfs/cortex/env" | cut -f1) MiB," \
    "binary $(du -sxm "$rootfs/usr/local/bin/cortex" | cut -f1) MiB)"

echo "== 5. the Deployment's container, run in the image's root"
rm -rf "$work/k8s"
"$bin" cluster render "$example" -o "$work/k8s" --image cortex-verify:latest >/dev/null
# ENTRYPOINT + the first Deployment's args, its --port replaced; the image's ENV and WORKDIR.
mapfile -t argv < <(python3 - "$work/image-config.json" "$work/k8s" "$port" <<'EOF'
import glob, json, sys
config, k8s, port = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
text = open(sorted(glob.glob(k8s + "/*-deployment.yaml"))[0]).read().splitlines()
start = next(i for i, line in enumerate(text) if line.strip() == "args:")
args = []
for line in text[start + 1:]:
    if not line.strip().startswith("- "):
        break
    args.append(line.strip()[2:].strip('"'))
args[args.index("--port") + 1] = port
print("\n".join(config["entrypoint"] + args))
EOF
)
mapfile -t envs < <(python3 -c 'import json,sys; [print(f"{k}={v}") for k,v in json.load(open(sys.argv[1]))["env"].items()]' "$work/image-config.json")
workdir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["workdir"])' "$work/image-config.json")
endpoint=$(awk '/path:/ && !/Path|readyz|healthz|metrics/ {print $NF; exit}' "$work"/k8s/*-ingress.yaml)
echo "   + chroot rootfs (cd $workdir) ${argv[*]}"
t=$(date +%s.%N)
chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    "${envs[@]}" /bin/sh -c "cd $workdir && exec \"\$@\"" sh "${argv[@]}" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "cortex serve exited:"; cat "$work/serve.log"; exit 1; }
    sleep 0.1
done
ready=$(python3 -c "import time; print(f'{time.time() - $t:.2f}')")
echo "   ready (/readyz 200) $ready s after start"
echo "   + curl -X POST http://127.0.0.1:$port$endpoint -H 'Content-Type: application/json' -d '$payload'"
answer=$(curl -fsS -X POST "http://127.0.0.1:$port$endpoint" -H 'Content-Type: application/json' -d "$payload")
echo "   $answer"
kill -TERM $server
status=0
wait $server || status=$?
server=
echo "   SIGTERM: cortex serve exited with status $status"
echo "== the server's log"
sed 's/^/   | /' "$work/serve.log"
echo "== summary: static binary ok; context written; image root $((image_bytes / 1024 / 1024)) MiB; steps replayed in $build_seconds s; ready in $ready s; answer $answer; exit $status"
[ "$status" = 0 ]
