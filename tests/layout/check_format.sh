#!/bin/sh
# Every tracked C and C++ file is formatted by the committed .clang-format (clang-format 14).
# Usage: check_format.sh SOURCE_DIR CLANG_FORMAT
set -eu
cd "$1"
git ls-files '*.cpp' '*.hpp' '*.c' '*.h' '*.inl' | grep -v '^tests/fuzz/corpus' | xargs "$2" --dry-run -Werror
