#!/usr/bin/env bash
# Build a Kubernetes control plane and kubelet from Debian bookworm's `kubernetes` source package
# (no registry here ships a current kube-apiserver, k3s or kind). Once per machine: the binaries go
# to $SENTIOPS_K8S_CACHE (default ~/.cache/sentiops/k8s), outside any clone, so CI's fresh clone
# reuses them. Cold: about 10 minutes on 2 cores, 1.4 GB peak memory.
set -euo pipefail

CACHE="${SENTIOPS_K8S_CACHE:-$HOME/.cache/sentiops/k8s}"
BIN="$CACHE/bin"

if [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-proxy" ] && [ -x "$BIN/pause" ] && [ -f "$BIN/VERSION" ]; then
    echo "kubernetes $(cat "$BIN/VERSION") already built in $BIN"
    exit 0
fi

echo "== Debian packages: Go 1.19 to build; rsync for the generators; dpkg-dev for apt-get source"
export DEBIAN_FRONTEND=noninteractive
# The source package needs a deb-src entry: the same mirrors and suites as the binary entries.
SRC_LIST=/etc/apt/sources.list.d/sentiops-deb-src.sources
if [ ! -f "$SRC_LIST" ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$SRC_LIST"
fi
apt-get update -qq
apt-get install -y -qq golang-go rsync dpkg-dev gcc libc6-dev >/dev/null

WORK="$CACHE/build"
rm -rf "$WORK"
OUT="$WORK/bin"  # moved to $BIN only when every binary is built
mkdir -p "$WORK/dl" "$WORK/gopath/src/k8s.io" "$OUT"
echo "== source: apt-get source kubernetes"
(cd "$WORK/dl" && apt-get source --download-only -qq kubernetes)
ORIG=$(ls "$WORK"/dl/kubernetes_*.orig.tar.gz | head -n1)
mkdir -p "$WORK/src"
tar -C "$WORK/src" -xzf "$ORIG"
SRC=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d | head -n1)
ln -s "$SRC" "$WORK/gopath/src/k8s.io/kubernetes"

# GOPATH mode with the package's full vendor/ tree: nothing is fetched.
export GO111MODULE=off GOPATH="$WORK/gopath" GOPROXY=off GOCACHE="$WORK/gocache"
cd "$WORK/gopath/src/k8s.io/kubernetes"
# The version the binaries report (the source tarball has no git history to read it from), e.g.
# Debian's 1.20.5+really1.20.2 is upstream 1.20.2; -s -w leave out the debug tables (a third smaller).
DEBIAN_VERSION=$(basename "$ORIG" | sed -e 's/^kubernetes_//' -e 's/\.orig\.tar\.gz$//')
UPSTREAM=${DEBIAN_VERSION##*really}
VERSION_PKG=k8s.io/kubernetes/vendor/k8s.io/component-base/version
LDFLAGS="-s -w -X $VERSION_PKG.gitVersion=v$UPSTREAM -X $VERSION_PKG.gitMajor=${UPSTREAM%%.*}"
LDFLAGS="$LDFLAGS -X $VERSION_PKG.gitMinor=$(echo "$UPSTREAM" | cut -d. -f2) -X $VERSION_PKG.gitTreeState=clean"
echo "== generated OpenAPI definitions (the apiserver does not compile without them)"
make gen_openapi >/dev/null
# kube-proxy: Services route to Ready pods (iptables), which a rolling update relies on.
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    echo "== go build $b"
    CGO_ENABLED=0 go build -ldflags "$LDFLAGS" -o "$OUT/$b" "./cmd/$b"
done
echo "== go build kubelet (cgo: it links libc for the cadvisor and mount code)"
CGO_ENABLED=1 go build -ldflags "$LDFLAGS" -o "$OUT/kubelet" ./cmd/kubelet

# The pod sandbox ("pause") image's one binary, from the same source: no registry is reachable.
echo "== pause"
gcc -Os -static -Wall -Werror -DVERSION=sentiops -o "$OUT/pause" build/pause/linux/pause.c
echo "$DEBIAN_VERSION" > "$OUT/VERSION"

# Keep only the binaries: the Go build cache and the source are 2-3 GB.
cd /
rm -rf "$BIN"
mv "$OUT" "$BIN"
rm -rf "$WORK"
echo "kubernetes $(cat "$BIN/VERSION") built in $BIN"
