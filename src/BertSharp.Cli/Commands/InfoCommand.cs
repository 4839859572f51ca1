using System.CommandLine;
using System.Runtime.Intrinsics;
using BertSharp.Cli.Pretraining;
using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp info [PATH]</c>: what this machine offers the kernels, or what a run folder or checkpoint holds.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var path = new Argument<string?>("path") { Description = "A run folder or checkpoint folder (none: show the machine)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print the same as one JSON object (snake_case keys)" };
        var command = new Command("info", "Show what a run folder or checkpoint holds (config, parameters, steps, best metrics), or with no path what the kernels use on this machine.")
        {
            path, json,
        };
        command.SetAction(parse =>
        {
            var o = CliConsole.Out;
            string? p = parse.GetValue(path);
            if (parse.GetValue(json))
            {
                object result = p is null ? Machine()
                    : RunDescription.IsRunFolder(p) ? RunJson(RunDescription.Read(p)) : CheckpointJson(PretrainedModel.Load(p));
                o.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, CliJson.Indented));
                return 0;
            }
            if (p is null)
            {
                o.WriteLine($"threads: {KernelParallel.ThreadCount}");
                o.WriteLine($"Vector256 hardware accelerated: {Vector256.IsHardwareAccelerated}");
                o.WriteLine($"Vector512 hardware accelerated: {Vector512.IsHardwareAccelerated}");
                o.WriteLine($"FMA: {System.Runtime.Intrinsics.X86.Fma.IsSupported}");
                o.WriteLine($"SGEMM: {Gemm.KernelDescription}");
                o.WriteLine($"bf16 GEMM (--precision bf16): {Gemm.Bf16KernelDescription}");
                // The devices --device can choose: the CPU always, and every CUDA GPU (or why there is none).
                o.WriteLine("devices: cpu");
                var cuda = BertSharp.Cuda.CudaInfo.Probe();
                foreach (var line in cuda.Describe().Split('\n')) o.WriteLine($"  {line.TrimEnd()}");
                // Whether each GPU has passed the self-check that runs before its first training or inference.
                if (cuda.IsUsable)
                    foreach (var d in cuda.Devices)
                        o.WriteLine($"  cuda:{d.Ordinal} {BertSharp.Cuda.CudaSelfCheck.Describe(BertSharp.Cuda.CudaSelfCheck.Lookup(cuda, d.Ordinal))}");
                return 0;
            }
            if (RunDescription.IsRunFolder(p))
                return ShowRun(p, RunDescription.Read(p));
            ShowCheckpoint(PretrainedModel.Load(p));
            return 0;
        });
        return command;
    }

    private static object Machine() => new
    {
        threads = KernelParallel.ThreadCount, vector256 = Vector256.IsHardwareAccelerated, vector512 = Vector512.IsHardwareAccelerated,
        fma = System.Runtime.Intrinsics.X86.Fma.IsSupported, sgemm = Gemm.KernelDescription, bf16_gemm = Gemm.Bf16KernelDescription,
        cuda = CudaJson(BertSharp.Cuda.CudaInfo.Probe()),
    };

    private static object CudaJson(BertSharp.Cuda.CudaInfo c) => new
    {
        devices = c.Devices.Select(d => d.ToString()).ToArray(), driver = c.DriverVersion, nvrtc = c.NvrtcVersion, cublas = c.CublasVersion,
        reason = c.Reason.Length > 0 ? c.Reason : null,
        self_check = c.IsUsable ? c.Devices.Select(d => BertSharp.Cuda.CudaSelfCheck.Lookup(c, d.Ordinal) is { } r
            ? new { device = $"cuda:{d.Ordinal}", status = r.Passed ? "passed" : "failed", failed = r.Failed, checked_utc = (DateTime?)r.CheckedUtc, file = r.File }
            : new { device = $"cuda:{d.Ordinal}", status = "not run", failed = (IReadOnlyList<string>)[], checked_utc = (DateTime?)null, file = "" }).ToArray() : null,
    };

    private static object RunJson(RunDescription run)
    {
        var log = run.Metrics;
        return new
        {
            run_folder = run.Folder,
            settings = System.Text.Json.Nodes.JsonNode.Parse(run.Settings.ToJson()),
            parameters = run.Parameters,
            checkpoints = run.Checkpoints.Select(c => new { step = c.Step, path = c.Path }),
            steps_saved = run.StepsSaved, finished = run.Finished,
            last_validation = log?.Last, best_validation = log?.Best, training_seconds = log?.Elapsed,
        };
    }

    private static object CheckpointJson(PretrainedModel ck) => new
    {
        checkpoint = ck.Folder, run_folder = ck.RunFolder,
        config = System.Text.Json.Nodes.JsonNode.Parse(ck.Config.ToJson()),
        parameters = ck.Parameters.Layout.ParameterCount, vocabulary_size = ck.Vocabulary.Count, lowercase = ck.LowerCase,
        labels = ck.Labels, state = ck.State, notes = ck.Notes,
    };

    /// <param name="dir">the folder as given (the continue hint repeats it)</param>
    /// <param name="run">what it holds</param>
    private static int ShowRun(string dir, RunDescription run)
    {
        var o = CliConsole.Out;
        var s = run.Settings;
        var c = s.Model;
        o.WriteLine($"run folder: {run.Folder}");
        o.WriteLine($"corpus: {s.Corpus}{(s.CorpusPath.Length > 0 && s.Corpus != s.CorpusPath ? $" ({s.CorpusPath})" : "")}, {(s.LowerCase ? "uncased" : "cased")}");
        o.WriteLine($"model: {s.Preset ?? "custom config"}: {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, intermediate {c.IntermediateSize}, "
            + $"vocab {c.VocabSize:N0}, {run.Parameters:N0} parameters");
        o.WriteLine($"training: {s.Steps:N0} steps of {s.BatchSize} x {s.SeqLength} (x{s.GradAccum}), lr {s.LearningRate:G3} {s.Schedule}, warm-up {s.WarmupSteps}, seed {s.Seed}");
        var checkpoints = run.Checkpoints;
        o.WriteLine(checkpoints.Count == 0 ? "checkpoints: none yet"
            : $"checkpoints: {string.Join(", ", checkpoints.Select(x => x.Step.ToString("N0")))} (newest: {checkpoints[^1].Path})");
        o.WriteLine(run.Finished ? "status: finished" : $"status: {run.StepsSaved:N0} of {s.Steps:N0} steps saved; continue with: bertsharp pretrain --run-dir {dir} --resume");
        if (run.Metrics is { } log)
        {
            if (log.Last is { } last)
                o.WriteLine($"last validation (step {last.Step:N0}): loss {last.Loss:F4}, MLM accuracy {last.MlmAccuracy:P1}, NSP accuracy {last.NspAccuracy:P1}, MLM perplexity {Math.Exp(last.MlmLoss):F2}");
            if (log.Best is { } best)
                o.WriteLine($"best validation loss {best.Loss:F4} at step {best.Step:N0} (MLM accuracy {best.MlmAccuracy:P1}, NSP accuracy {best.NspAccuracy:P1})");
            if (log.Elapsed > 0) o.WriteLine($"training time: {TrainingDisplay.Duration(log.Elapsed)}");
        }
        return 0;
    }

    private static void ShowCheckpoint(PretrainedModel ck)
    {
        var o = CliConsole.Out;
        var c = ck.Config;
        o.WriteLine($"checkpoint: {ck.Folder}");
        if (ck.RunFolder is not null) o.WriteLine($"run folder: {ck.RunFolder}");
        o.WriteLine($"config: {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, intermediate {c.IntermediateSize}, "
            + $"{c.HiddenAct}, max positions {c.MaxPositionEmbeddings}, dropout {c.HiddenDropoutProb}/{c.AttentionProbsDropoutProb}");
        o.WriteLine($"parameters: {ck.Parameters.Layout.ParameterCount:N0}");
        o.WriteLine($"vocabulary: {ck.Vocabulary.Count:N0} tokens, {(ck.LowerCase ? "uncased" : "cased")}");
        if (ck.State is { } st)
        {
            o.WriteLine($"step: {st.Step:N0} of {st.TotalSteps:N0} (epoch {st.Epoch}, {st.MicroStep:N0} micro-batches), lr {st.LearningRate:E3} ({st.Schedule}, peak {st.PeakLearningRate:G3})");
            var best = st.History.Where(h => h.Split == "validation").OrderBy(h => h.Loss).FirstOrDefault();
            if (best is not null) o.WriteLine($"best validation loss {best.Loss:F4} at step {best.Step:N0}");
        }
        if (ck.RunFolder is not null && MetricsReader.OpenRun(ck.RunFolder) is { } log)
        {
            long step = ck.State?.Step ?? long.MaxValue;
            if (log.AtOrBefore(step) is { } v)
                o.WriteLine($"validation at step {v.Step:N0}: loss {v.Loss:F4}, MLM accuracy {v.MlmAccuracy:P1}, NSP accuracy {v.NspAccuracy:P1}");
        }
    }
}
