namespace BertSharp.Runs;

/// <summary>
/// What a <see cref="FineTuningRun"/> does, named after the <c>finetune</c> options: the starting model (a
/// checkpoint, run or HuggingFace folder in <see cref="Model"/>, or random weights of a <see cref="Preset"/> with a
/// <see cref="VocabPath"/>), the labelled data (<see cref="Data"/>, else IMDB), the training recipe (the
/// <see cref="FineTuningRecipe"/> it is: BERT's fine-tuning defaults, AdamW, 10 % linear warm-up then linear decay,
/// 3 epochs of 32) and the output folder. The one type a program and the <c>finetune</c> command fill; an error
/// about a value names its property (<see cref="BertSharpException.Properties"/>).
/// <code>
/// var result = new FineTuningRun(new FineTuningRequest { Model = "runs/sample", Data = "reviews.jsonl", OutputDir = "runs/cls" }).Run();
/// </code>
/// </summary>
public sealed record FineTuningRequest : FineTuningRecipe
{
    /// <summary>Folder for the fine-tuned model (HuggingFace BertForSequenceClassification layout), its checkpoints/ and finetune_results.json.</summary>
    public required string OutputDir { get; init; }
    /// <summary>Replace <see cref="OutputDir"/> when it exists and is not empty.</summary>
    public bool Force { get; init; }
    /// <summary>Continue an interrupted fine-tuning from <see cref="OutputDir"/>'s newest checkpoint (with the same settings).</summary>
    public bool Resume { get; init; }

    /// <summary>The pretrained model to start from: a checkpoint, run folder or HuggingFace folder (null: <see cref="Preset"/> and <see cref="VocabPath"/>).</summary>
    public string? Model { get; init; }
    /// <summary>Use <see cref="Model"/>'s architecture and vocabulary but random weights (the from-scratch baseline).</summary>
    public bool RandomInit { get; init; }
    /// <summary>Without <see cref="Model"/>: the architecture preset (tiny, mini, small, medium, base; default tiny).</summary>
    public string? Preset { get; init; }
    /// <summary>Without <see cref="Model"/>: the vocab.txt to tokenize with.</summary>
    public string? VocabPath { get; init; }
    /// <summary>Without <see cref="Model"/>: a cased tokenizer (keep case and accents).</summary>
    public bool Cased { get; init; }
    /// <summary>With <see cref="Model"/> pretrained at length N: positions N and beyond start as copies of positions 0..N-1
    /// (position i takes i mod N), for fine-tuning at a longer <see cref="MaxLength"/>.</summary>
    public int? CopyPositions { get; init; }
    /// <summary>Dropout of hidden states, attention weights and the pooled [CLS] vector (null: the model config's).</summary>
    public float? Dropout { get; init; }

    /// <summary>Labelled data: a folder with one subfolder of .txt files per label (optionally under train/ and test/),
    /// a .jsonl file with "text" and "label", or an aclImdb archive or folder. Null: IMDB (<see cref="ImdbArchive"/>).</summary>
    public string? Data { get; init; }
    /// <summary>Without <see cref="Data"/>: aclImdb_v1.tar.gz or an aclImdb folder (null: data/aclImdb or data/aclImdb_v1.tar.gz).</summary>
    public string? ImdbArchive { get; init; }
    /// <summary>Evaluation data in the same forms (null: the data's test split, else a held-out <see cref="EvalFraction"/>).</summary>
    public string? EvalData { get; init; }
    /// <summary>Share held out for evaluation when the data has no test split.</summary>
    public double EvalFraction { get; init; } = 0.1;
    /// <summary>At most this many training texts (label-balanced, seeded; 0: all).</summary>
    public int MaxTrain { get; init; }
    /// <summary>At most this many evaluation texts (label-balanced, seeded; 0: all).</summary>
    public int MaxEval { get; init; }
    /// <summary>Tokens per text including [CLS] and [SEP] (null: 512 or the model's position table, whichever is smaller).</summary>
    public int? MaxLength { get; init; }
    /// <summary>Tokens kept from the start of a long text, the rest from its end (null: 128/510 of the length).</summary>
    public int? HeadTokens { get; init; }

    /// <summary>The request's problems: the recipe's (<see cref="FineTuningRecipe.Problems"/>), then the data's
    /// shares, counts and length out of range.</summary>
    public override IEnumerable<(string Property, string Problem)> Problems()
    {
        foreach (var problem in base.Problems()) yield return problem;
        if (!(EvalFraction > 0 && EvalFraction < 1)) yield return (nameof(EvalFraction), $"must be between 0 and 1, got {EvalFraction}");
        if (MaxTrain < 0) yield return (nameof(MaxTrain), $"must be 0 (all) or more, got {MaxTrain}");
        if (MaxEval < 0) yield return (nameof(MaxEval), $"must be 0 (all) or more, got {MaxEval}");
        if (MaxLength is int m && m < 3) yield return (nameof(MaxLength), $"must be at least 3, got {m}");
    }
}
