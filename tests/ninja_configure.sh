#!/usr/bin/env bash
# The build must work with the Ninja generator as well as with Makefiles (CI builds with Makefiles): configure the
# whole project with Ninja in a scratch folder and load the generated manifest with a dry run, which is where Ninja
# refuses a broken build graph (two rules generating one file, a target named like a file it generates). Nothing
# is compiled. Skipped (exit 77) without ninja (tests/install-deps.sh --test installs ninja-build).
# Usage: ninja_configure.sh SOURCE_DIR SCRATCH_DIR
set -u
src=$1
dir=$2
command -v ninja >/dev/null || { echo "ninja not found: skipped"; exit 77; }
rm -rf "$dir"
if ! cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$dir.log" 2>&1; then
  cat "$dir.log"; echo "FAIL: configuring with the Ninja generator failed"; exit 1
fi
if ! ninja -C "$dir" -n >"$dir.ninja.log" 2>&1; then
  grep -v '^\[' "$dir.ninja.log" | head -20; echo "FAIL: Ninja refuses the generated build graph"; exit 1
fi
echo "the Ninja generator configures the project and accepts its build graph"
rm -rf "$dir" "$dir.log" "$dir.ninja.log"
