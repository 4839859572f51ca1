using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Cli.Commands;

/// <summary>What <c>finetune</c> (being rewritten onto the library's Trainer) still uses: the library loader as a
/// <see cref="ModelFolder"/>, the --max-length check, and a pass-through for the old error wrapper (CliRunner maps
/// every error now). Delete this file once FinetuneCommand no longer uses it.</summary>
internal static class UseCommandSupport
{
    public static ModelFolder Load(string path)
    {
        var model = PretrainedModel.Load(path);
        var folder = model.ToModelFolder();
        folder.Notes.AddRange(model.Notes);
        return folder;
    }

    public static T Guard<T>(Func<T> work) => work();

    public static void Guard(Action work) => work();

    /// <summary>Default input length: 512 or the model's position table, whichever is smaller.</summary>
    public static int MaxLength(int? requested, BertConfig config)
    {
        int max = requested ?? Math.Min(512, config.MaxPositionEmbeddings);
        if (max < 3 || max > config.MaxPositionEmbeddings)
            throw new UserException($"--max-length: must be in [3, {config.MaxPositionEmbeddings}] for this model (max_position_embeddings), got {max}", CliRunner.ExitUsage);
        return max;
    }
}
