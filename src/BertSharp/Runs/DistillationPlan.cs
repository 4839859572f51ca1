using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>
/// What distillation adds to a <see cref="FineTuningRun"/>: the teacher (loaded and checked before any work), the
/// student's starting weights, the label check, the teacher's logits attached to the training texts (cached), the loss,
/// and what the run records about them.
/// </summary>
internal sealed class DistillationPlan
{
    private readonly DistillationRequest _q;
    private PretrainedModel? _teacher;
    private bool _cached;
    private double _teacherSeconds;

    public DistillationPlan(DistillationRequest q)
    {
        _q = q;
        try { Loss = new DistillationLoss(q.Temperature, q.Alpha).Validate(); }
        catch (ArgumentOutOfRangeException e) { throw Usage(e.Message.Split(" (Parameter")[0], e.ParamName ?? ""); }
        if (string.IsNullOrEmpty(q.Teacher)) throw Usage($"{nameof(q.Teacher)}: give the fine-tuned classifier to learn from", nameof(q.Teacher));
        if ((q.Student is null) == (q.TeacherLayers is null))
            throw Usage($"give either {nameof(q.Student)} (a preset or a model) or {nameof(q.TeacherLayers)} (every k-th layer of the teacher), not both or neither",
                nameof(q.Student), nameof(q.TeacherLayers));
        var t = q.Training;
        if (t.Model is not null || t.Preset is not null || t.VocabPath is not null || t.Cased)
            throw Usage($"{nameof(q.Training)}: leave Model, Preset, VocabPath and Cased unset; the student is {nameof(q.Student)} and the vocabulary the teacher's",
                nameof(q.Student));
        if (t.CopyPositions is not null && q.Student is null)
            throw Usage($"{nameof(t.CopyPositions)}: only for a pretrained {nameof(q.Student)}", nameof(t.CopyPositions), nameof(q.Student));
        if (t.RandomInit && (q.Student is null || IsPreset(q.Student)))
            throw Usage($"{nameof(t.RandomInit)}: only for a {nameof(q.Student)} model (a preset starts from random weights anyway)", nameof(t.RandomInit), nameof(q.Student));
    }

    /// <summary>The fine-tuning request the run carries out.</summary>
    public FineTuningRequest Training => _q.Training;
    /// <summary>The student's loss.</summary>
    public DistillationLoss Loss { get; }
    /// <summary>The teacher's classifier head is the student's too (every-k-th-layer start): not replaced by a new one.</summary>
    public bool KeepsClassifier => _q.TeacherLayers is not null;
    /// <summary>The length the teacher was fine-tuned at (its finetune_results.json's max_length; else its run's, else its
    /// tokenizer's model_max_length; at most its position table and 512): the student's default.</summary>
    public int? TeacherMaxLength => _teacher is { } t ? Math.Min(Math.Min(512, t.MaxSeqLength), FineTunedLength(t.Folder) ?? int.MaxValue) : null;

    /// <summary>max_length in the finetune_results.json of a folder <see cref="FineTuningRun"/> wrote; null without one.</summary>
    private static int? FineTunedLength(string folder)
    {
        string path = Path.Combine(folder, FineTuningRun.ResultsFile);
        if (!File.Exists(path)) return null;
        try { return JsonNode.Parse(File.ReadAllText(path))?["max_length"] is JsonValue v && v.TryGetValue(out int n) && n >= 3 ? n : null; }
        catch (Exception e) when (e is JsonException or IOException) { return null; } // a damaged record: fall back to the model's own length
    }

    /// <summary>The run's inputs besides the data, which the output folder may not be, hold or lie in.</summary>
    public IEnumerable<string?> Inputs => [_q.Teacher, _q.Student is { } s && !IsPreset(s) ? s : null];

    private static bool IsPreset(string name) => BertConfig.PresetNames.Contains(name) && !Directory.Exists(name);

    /// <summary>Loads the teacher (a classifier, or <see cref="ErrorKind.Usage"/>) onto <paramref name="device"/> and makes
    /// the student's starting weights, with the teacher's vocabulary; where they came from in words.</summary>
    public (ModelFolder Start, string Origin) StartingModel(Device device, ulong seed, Action<string> log)
    {
        var teacher = _teacher = BertSharpException.Guard(() => PretrainedModel.Load(_q.Teacher), ErrorKind.BadInput, _q.Teacher);
        if (teacher.Labels is null)
            throw Usage($"{nameof(_q.Teacher)} {_q.Teacher}: not a classifier (no classifier head); distil from a fine-tuned model", nameof(_q.Teacher));
        teacher.To(device);
        log($"teacher: {_q.Teacher} ({teacher.Config.NumHiddenLayers} layers, hidden {teacher.Config.HiddenSize}, labels {string.Join("/", teacher.Labels)})");
        if (_q.TeacherLayers is int layers)
        {
            BertParameters p;
            try { p = teacher.Parameters.EveryKthLayer(layers); }
            catch (ArgumentOutOfRangeException e) { throw Usage($"{nameof(_q.TeacherLayers)}: {e.Message.Split(" (Parameter")[0]}", nameof(_q.TeacherLayers)); }
            int k = teacher.Config.NumHiddenLayers / layers;
            return (new ModelFolder { Parameters = p, Vocabulary = teacher.Vocabulary, LowerCase = teacher.LowerCase },
                $"every {(k == 1 ? "" : k == 2 ? "2nd " : k == 3 ? "3rd " : $"{k}th ")}layer of the teacher {_q.Teacher} ({layers} layers)");
        }
        string student = _q.Student!;
        if (IsPreset(student))
        {
            var config = BertConfig.FromPreset(student, teacher.Vocabulary.Count);
            var p = new BertParameters(config);
            p.Initialize(seed);
            return (new ModelFolder { Parameters = p, Vocabulary = teacher.Vocabulary, LowerCase = teacher.LowerCase },
                $"random weights, preset {student}, the teacher's vocabulary");
        }
        var model = BertSharpException.Guard(() => PretrainedModel.Load(student), ErrorKind.BadInput, student);
        if (!model.Vocabulary.Tokens.SequenceEqual(teacher.Vocabulary.Tokens) || model.LowerCase != teacher.LowerCase)
            throw Usage($"{nameof(_q.Student)} {student} and {nameof(_q.Teacher)} {_q.Teacher} have different vocabularies "
                + $"({model.Vocabulary.Count:N0} {(model.LowerCase ? "uncased" : "cased")} and {teacher.Vocabulary.Count:N0} {(teacher.LowerCase ? "uncased" : "cased")} tokens"
                + $"{(model.Vocabulary.Count == teacher.Vocabulary.Count && model.LowerCase == teacher.LowerCase ? ", not the same ones" : "")}); a student must read the teacher's tokens",
                nameof(_q.Student), nameof(_q.Teacher));
        var start = model.ToModelFolder();
        if (_q.Training.RandomInit) start.Parameters.Initialize(seed);
        foreach (var note in model.Notes) log($"note: {note}");
        return (start, _q.Training.RandomInit ? $"random weights, architecture of {student}" : student);
    }

    /// <summary>Refuses data whose labels are not the teacher's, in the same order (<see cref="ErrorKind.Usage"/>).</summary>
    public void CheckLabels(IReadOnlyList<string> labels, string source)
    {
        var mine = _teacher!.Labels!;
        if (!mine.SequenceEqual(labels))
            throw Usage($"{source} has labels {string.Join("/", labels)}, the teacher {_q.Teacher} {string.Join("/", mine)}; distil on data with the teacher's labels",
                nameof(_q.Teacher));
    }

    /// <summary>The training texts with the teacher's logits attached: read from the output folder's cache when its key
    /// matches, else computed (rank 0; the other ranks read what it wrote) and cached.</summary>
    public LabelledExample[] Teach(LabelledExample[] train, int maxLength, int batchSize, string output, ICommunicator comm, Action<string> log)
    {
        var teacher = _teacher!;
        if (maxLength > teacher.Config.MaxPositionEmbeddings)
            throw Usage($"{nameof(FineTuningRequest.MaxLength)} {maxLength}: longer than the teacher's position table ({teacher.Config.MaxPositionEmbeddings})",
                nameof(FineTuningRequest.MaxLength));
        int labels = teacher.Labels!.Count;
        var clock = Stopwatch.StartNew();
        string key = TeacherLogits.Key(teacher.Parameters, train);
        var logits = TeacherLogits.TryLoad(output, key, train, labels);
        _cached = logits is not null;
        if (logits is null && comm.Rank == 0)
        {
            log($"teacher: logits for {train.Length:N0} training texts ...");
            var model = new BertForSequenceClassification(teacher.Parameters);
            logits = TeacherLogits.Compute(model, teacher.Vocabulary, train, maxLength, batchSize, new Lines(log));
            TeacherLogits.Save(output, key, logits, train, labels);
        }
        comm.Barrier();
        logits ??= TeacherLogits.TryLoad(output, key, train, labels)
            ?? TeacherLogits.Compute(new BertForSequenceClassification(teacher.Parameters), teacher.Vocabulary, train, maxLength, batchSize);
        _teacherSeconds = clock.Elapsed.TotalSeconds;
        log(_cached ? $"teacher: logits read from {Path.Combine(output, TeacherLogits.FileName)} (same teacher, texts and tokenization)"
            : $"teacher: logits computed in {_teacherSeconds:F1} s, cached in {Path.Combine(output, TeacherLogits.FileName)}");
        return TeacherLogits.Attach(train, logits, labels);
    }

    /// <summary>The settings a resume must repeat, beside fine-tuning's: key in finetune_request.json, property, value.</summary>
    public IEnumerable<(string Key, string Property, object? Value)> RecordedSettings =>
    [
        ("teacher", nameof(_q.Teacher), Path.GetFullPath(_q.Teacher)),
        ("student", nameof(_q.Student), _q.Student is { } s ? IsPreset(s) ? s : Path.GetFullPath(s) : null),
        ("teacher_layers", nameof(_q.TeacherLayers), _q.TeacherLayers), ("temperature", nameof(_q.Temperature), _q.Temperature),
        ("alpha", nameof(_q.Alpha), _q.Alpha),
    ];

    /// <summary>What finetune_results.json records about the distillation.</summary>
    public object Results => new
    {
        teacher = _q.Teacher, student = _q.Student, teacher_layers = _q.TeacherLayers, temperature = _q.Temperature, alpha = _q.Alpha,
        teacher_logits = _cached ? "cached" : "computed", teacher_seconds = _teacherSeconds,
    };

    private static BertSharpException Usage(string message, params string[] properties) => new(message, ErrorKind.Usage) { Properties = properties };

    private sealed class Lines(Action<string> log) : IProgress<string>
    {
        public void Report(string line) => log(line);
    }
}
