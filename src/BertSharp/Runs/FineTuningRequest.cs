namespace BertSharp.Runs;

/// <summary>
/// What a <see cref="FineTuningRun"/> does, named after the <c>finetune</c> options: the starting model (a
/// checkpoint, run or HuggingFace folder in <see cref="Model"/>, or random weights of a <see cref="Preset"/> with a
/// <see cref="VocabPath"/>), the labelled data (<see cref="Data"/>, else IMDB), the training recipe (BERT's
/// fine-tuning defaults: AdamW, 10 % linear warm-up then linear decay, 3 epochs of 32) and the output folder.
/// <code>
/// var result = new FineTuningRun(new FineTuningRequest { Model = "runs/sample", Data = "reviews.jsonl", OutputDir = "runs/cls" }).Run();
/// </code>
/// </summary>
public sealed record FineTuningRequest
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

    /// <summary>Passes over the training texts.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Training texts per update.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Texts per evaluation batch.</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Peak learning rate (linear warm-up, then linear decay to 0).</summary>
    public double LearningRate { get; init; } = 2e-5;
    /// <summary>Share of the updates spent warming up.</summary>
    public double WarmupRatio { get; init; } = 0.1;
    /// <summary>AdamW weight decay (not applied to biases and LayerNorm).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>Seed of the initialisation (random weights, the classifier), the data's split, subsets and order, and dropout.</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Batch training texts of similar length (like HF's group_by_length): far less padding.</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Stop after this many epochs without a better evaluation accuracy (0: never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>A progress line every N updates (0: only per epoch).</summary>
    public int LogEvery { get; init; } = 50;
}
