#!/usr/bin/env bash
# `npm run bench:stages-ab -- REF`: the in-process cost of each stage of a
# Check call, for the build of git REF (a commit, a branch, `HEAD~1`) against
# the working tree's, in one process, alternating (bench/stages-ab.ts). On a
# shared machine this sees a change of a few per cent that `bench:grpc`
# cannot. REF is checked out in a temporary git worktree and built there with
# this checkout's node_modules; both are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:?usage: npm run bench:stages-ab -- REF (a commit to compare the working tree with)}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ward-stages-ab-XXXXXX")
cleanup() {
  git worktree remove --force "$DIR/base" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
git worktree add --detach "$DIR/base" "$REF" >/dev/null
ln -s "$PWD/node_modules" "$DIR/base/node_modules"
(cd "$DIR/base" && npx tsc -p tsconfig.build.json)
npm run --silent build
BENCH_WRITE_REQUEST="$DIR/request.bin" npx tsx bench/grpc.ts
npx tsx bench/stages-ab.ts "$DIR/base/dist" dist "$DIR/request.bin"
