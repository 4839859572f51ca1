#!/usr/bin/env bash
# Makes the self-contained linux-x64 package that travels to the GPU machine (which has no .NET): the CLI and the
# GPU check program, published together (runtime included), compressed into tools/gpu/package/bertsharp-gpu.tar.xz
# (git-ignored; carry it with the device tool: carry ["tools/gpu/package"]). Repository + package must stay <= 60 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tools/gpu/package
rm -rf "$out" /tmp/bertsharp-gpu-publish && mkdir -p "$out" /tmp/bertsharp-gpu-publish
common=(-c Release -r linux-x64 --self-contained true -p:PublishSingleFile=false -p:InvariantGlobalization=true
        -p:GenerateDocumentationFile=false -p:DebugType=none -v q -nologo)
# One folder: both programs share the runtime files.
dotnet publish tools/gpu/GpuCheck/GpuCheck.csproj "${common[@]}" -o /tmp/bertsharp-gpu-publish/bin
dotnet publish src/BertSharp.Cli/BertSharp.Cli.csproj "${common[@]}" -o /tmp/bertsharp-gpu-publish/bin
tar -C /tmp/bertsharp-gpu-publish -cf - bin | xz -T2 -6 > "$out/bertsharp-gpu.tar.xz"
size=$(du -m "$out/bertsharp-gpu.tar.xz" | cut -f1)
repo=$(git ls-files -z | xargs -0 du -cm 2>/dev/null | tail -1 | cut -f1)
echo "package: $out/bertsharp-gpu.tar.xz ${size} MB (repository ${repo} MB; limit 60 MB together)"
[ $((size + repo)) -le 60 ] || { echo "error: package + repository over 60 MB" >&2; exit 1; }
