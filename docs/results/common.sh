# Sourced by the run scripts below this folder: strict mode, the repository root as working directory,
# B (the CLI; BIN= picks the build folder, default src/BertSharp.Cli/bin/Release/net10.0), A (the IMDB archive)
# and t NAME COMMAND... (runs COMMAND, then prints NAME with its wall time, user time and peak RSS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."   # the repository root
B="dotnet ${BIN:-src/BertSharp.Cli/bin/Release/net10.0}/BertSharp.Cli.dll"
A=../shared/data/aclImdb_v1.tar.gz
t() { /usr/bin/time -f "$1: %e s wall, %U s user, %M KB peak" "${@:2}"; }
