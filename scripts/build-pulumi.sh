#!/usr/bin/env bash
# Build the Pulumi CLI from Go modules into $PREFIX/bin (default ~/.cache/skyc/pulumi/<version>).
# Usage: scripts/build-pulumi.sh [VERSION]
set -euo pipefail
VERSION="${1:-${SKYC_PULUMI_VERSION:-3.274.1}}"
PREFIX="${PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/skyc/pulumi/$VERSION}"
if [ -x "$PREFIX/bin/pulumi" ] && "$PREFIX/bin/pulumi" version 2>/dev/null | grep -qx "v$VERSION"; then
  echo "pulumi v$VERSION already built in $PREFIX/bin"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build the Pulumi CLI (or install it: https://www.pulumi.com/docs/install/)" >&2; exit 3; }
WORK="$PREFIX/src"
mkdir -p "$WORK" "$PREFIX/bin"
cat > "$WORK/go.mod" <<MOD
module skyc.invalid/pulumi-cli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v$VERSION
	github.com/pulumi/pulumi/sdk/v3 v$VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
MOD
cd "$WORK"
echo "building pulumi v$VERSION from Go modules (several minutes on first run)..."
go mod tidy
got=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)
[ "$got" = "v$VERSION" ] || { echo "error: sdk/v3 resolved to $got, expected v$VERSION" >&2; exit 1; }
CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
  -o "$PREFIX/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
mv "$PREFIX/bin/pulumi.tmp" "$PREFIX/bin/pulumi"
"$PREFIX/bin/pulumi" version
