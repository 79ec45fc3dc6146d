#!/usr/bin/env bash
# Fails when a file departs from .editorconfig (layout, import order, style rules); `dotnet format RaftHead.sln`
# fixes what this reports. Analyzer rules are already enforced by the build itself.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet format whitespace RaftHead.sln --verify-no-changes
dotnet format style RaftHead.sln --verify-no-changes --severity warn
