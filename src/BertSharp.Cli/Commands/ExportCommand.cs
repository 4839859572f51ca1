using BertSharp.Files;
using System.CommandLine;
using BertSharp.IO;
using BertSharp.Onnx;
using BertSharp.Text;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp export</c>: a checkpoint as a folder HuggingFace's from_pretrained loads unchanged.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var modelArg = new Argument<string?>("model") { Description = "Checkpoint folder (or a run/output folder: its newest checkpoint)", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string?>("--checkpoint") { Description = "The model, when not given as the first argument" };
        var outDir = new Option<string>("--out") { Description = "Folder to write (config.json, model.safetensors, vocab.txt, tokenizer_config.json, special_tokens_map.json)", Required = true };
        var vocab = new Option<string?>("--vocab") { Description = "vocab.txt to use when the checkpoint has none" };
        var casing = new Option<string>("--casing")
        {
            Description = "Tokenizer casing to record: auto (the checkpoint's or its run's, else uncased), cased, uncased",
            DefaultValueFactory = _ => "auto",
        };
        var dtype = new Option<string>("--dtype")
        {
            Description = "Weights' type in model.safetensors (and torch_dtype in config.json): f32 (exact), bf16 or f16 (rounded to nearest even; a weight beyond float16's ±65504 is refused)",
            DefaultValueFactory = _ => "f32",
        };
        var format = new Option<string>("--format")
        {
            Description = "hf: the HuggingFace folder; onnx: the same folder plus onnx/model.onnx (model_fp16.onnx with --dtype f16) for ONNX Runtime",
            DefaultValueFactory = _ => "hf",
        };
        var task = new Option<string>("--task")
        {
            Description = "With --format onnx, the graph's outputs: auto (the model's head), pretraining, text-classification, feature-extraction",
            DefaultValueFactory = _ => "auto",
        };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var json = new Option<bool>("--json") { Description = "Print what was written as one JSON object (snake_case keys)" };
        var command = new Command("export", "Write a checkpoint as a HuggingFace folder (BertForPreTraining, or BertForSequenceClassification after finetune).")
        {
            modelArg, model, outDir, vocab, casing, dtype, format, task, force, json,
        };
        command.SetAction((ParseResult parse, CancellationToken _) =>
        {
            string mode = parse.GetValue(casing)!;
            if (mode is not ("auto" or "cased" or "uncased")) throw new BertSharpException($"--casing: unknown value '{mode}' (auto, cased, uncased)", ErrorKind.Usage);
            var weightsDtype = WeightsDtypes.Parse(parse.GetValue(dtype), "--dtype");
            string fmt = parse.GetValue(format)!;
            if (fmt is not ("hf" or "onnx")) throw new BertSharpException($"--format: unknown value '{fmt}' (hf, onnx)", ErrorKind.Usage);
            var onnxTask = OnnxTasks.Parse(parse.GetValue(task), "--task");
            if (fmt != "onnx" && onnxTask != OnnxTask.Auto) throw new BertSharpException("--task: only with --format onnx", ErrorKind.Usage);
            var onnxOptions = new OnnxExportOptions { Task = onnxTask, Dtype = weightsDtype };
            if (fmt == "onnx") OnnxExporter.Validate(onnxOptions);
            string output = parse.GetValue(outDir)!;
            string source = CommandInputs.Model(parse.GetValue(modelArg), parse.GetValue(model), "--checkpoint", "export")!;
            CommandInputs.CheckOut(output, folder: true, parse.GetValue(force), source, parse.GetValue(vocab));
            var given = parse.GetValue(vocab) is { } v ? Vocabulary.Load(v) : null;
            var loaded = PretrainedModel.Load(source, given);
            OutputPaths.RequireApart(output, "--out", loaded.Folder, loaded.RunFolder);
            var m = loaded.ToModelFolder();
            if (mode != "auto") m.LowerCase = mode == "uncased";
            m.WeightsDtype = weightsDtype;
            OnnxExportResult? onnx = null;
            if (fmt == "onnx")
            {
                OnnxExporter.ResolveTask(m.Parameters, onnxTask); // a task the model cannot serve is refused before anything is built
                onnx = OnnxExporter.Export(m, parse.GetValue(outDir)!, onnxOptions, overwrite: parse.GetValue(force));
            }
            else m.Save(parse.GetValue(outDir)!, overwrite: parse.GetValue(force));
            if (parse.GetValue(json))
            {
                CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    source = loaded.Folder, output = parse.GetValue(outDir), architecture = m.Config.Architectures[0],
                    parameters = m.Parameters.Layout.ParameterCount, vocabulary_size = m.Vocabulary!.Count, lowercase = m.LowerCase,
                    dtype = m.WeightsDtype.TorchName(),
                    onnx = onnx is null ? null : new { path = onnx.Path, task = onnx.Task.Name(), outputs = onnx.Outputs, opset = onnx.Opset, bytes = onnx.Bytes },
                }, CliJson.Indented));
                return Task.FromResult(CliRunner.ExitOk);
            }
            CliConsole.Out.WriteLine($"exported {loaded.Folder} -> {parse.GetValue(outDir)} ({m.Config.Architectures[0]}, {m.Parameters.Layout.ParameterCount:N0} parameters, "
                + $"{m.Vocabulary!.Count:N0} tokens, {(m.LowerCase ? "uncased" : "cased")}, {m.WeightsDtype.TorchName()})");
            if (onnx is not null)
                CliConsole.Out.WriteLine($"onnx: {onnx.Path} ({onnx.Task.Name()}: {string.Join(", ", onnx.Outputs)}; opset {onnx.Opset}, {onnx.Bytes:N0} bytes)");
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
