using BertSharp.Files;
using System.Buffers;
using System.Text;
using System.Text.Json;

namespace BertSharp.Pipelines;

/// <summary>
/// The logits of <see cref="PreTrainingLogits.Compute"/>, row-major: <see cref="PredictionLogits"/> is
/// [BatchSize, SeqLength, VocabSize] (MLM, at every position), <see cref="SeqRelationshipLogits"/> is [BatchSize, 2]
/// (NSP: 0 = B follows A, 1 = random) — HF's <c>BertForPreTrainingOutput</c> fields of the same names.
/// </summary>
/// <param name="BatchSize">B, the number of rows.</param>
/// <param name="SeqLength">T, the positions of each row.</param>
/// <param name="VocabSize">V, the logits of each position.</param>
/// <param name="PredictionLogits">MLM logits, [B·T·V] row-major.</param>
/// <param name="SeqRelationshipLogits">NSP logits, [B·2] row-major.</param>
public sealed record PreTrainingLogitsResult(int BatchSize, int SeqLength, int VocabSize, float[] PredictionLogits, float[] SeqRelationshipLogits)
{
    /// <summary>The MLM logits of position <paramref name="t"/> of row <paramref name="b"/> ([VocabSize]).</summary>
    public ReadOnlySpan<float> Prediction(int b, int t) => PredictionLogits.AsSpan(checked((int)(((long)b * SeqLength + t) * VocabSize)), VocabSize);

    /// <summary>Writes <c>{"prediction_logits": [B][T][V], "seq_relationship_logits": [B][2]}</c> and a newline,
    /// streamed, each float in its shortest round-trippable form (parsing it as float32 gives the same value).
    /// A non-finite logit (JSON has no NaN) is a <see cref="BertSharpException"/> before anything is written.</summary>
    public void WriteJson(Stream stream)
    {
        CheckFinite();
        using var w = new Utf8JsonWriter(stream);
        Write(w, () => w.Flush());
        stream.Write("\n"u8);
        stream.Flush();
    }

    /// <summary>As <see cref="WriteJson(Stream)"/>, to a text writer (standard output), in chunks of about 64 KB.</summary>
    public void WriteJson(TextWriter writer)
    {
        CheckFinite();
        var buffer = new ArrayBufferWriter<byte>(1 << 17);
        using var w = new Utf8JsonWriter(buffer);
        // The JSON is ASCII only (key names and numbers), so a chunk never ends inside a character.
        Write(w, () =>
        {
            w.Flush();
            writer.Write(Encoding.ASCII.GetString(buffer.WrittenSpan));
            buffer.ResetWrittenCount();
        });
        writer.Write('\n');
        writer.Flush();
    }

    /// <summary>Writes the JSON to <paramref name="path"/> through a temporary file in the same folder that is then
    /// renamed, so the path never holds a half-written file. An unwritable path is a <see cref="BertSharpException"/>.</summary>
    public void Save(string path)
    {
        CheckFinite();
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new BertSharpException($"{path}: the folder {folder} does not exist", ErrorKind.BadInput);
        // Through AtomicFile: never over a device, pipe or link, no temporary file left by a failure.
        try { AtomicFile.Write(path, WriteJson); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BertSharpException($"{path}: cannot write ({e.Message})", ErrorKind.BadInput, e);
        }
    }

    private void Write(Utf8JsonWriter w, Action flush)
    {
        w.WriteStartObject();
        w.WriteStartArray("prediction_logits");
        for (int b = 0; b < BatchSize; b++)
        {
            w.WriteStartArray();
            for (int t = 0; t < SeqLength; t++)
            {
                w.WriteStartArray();
                foreach (float x in Prediction(b, t)) w.WriteNumberValue(x);
                w.WriteEndArray();
                if (w.BytesPending >= 1 << 16) flush();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteStartArray("seq_relationship_logits");
        for (int b = 0; b < BatchSize; b++)
        {
            w.WriteStartArray();
            w.WriteNumberValue(SeqRelationshipLogits[2 * b]);
            w.WriteNumberValue(SeqRelationshipLogits[2 * b + 1]);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        flush();
    }

    private void CheckFinite()
    {
        int bad = Array.FindIndex(PredictionLogits, x => !float.IsFinite(x));
        if (bad >= 0)
            throw new BertSharpException($"prediction_logits[{bad / VocabSize / SeqLength}][{bad / VocabSize % SeqLength}][{bad % VocabSize}] = {PredictionLogits[bad]}: JSON cannot hold a non-finite number (are the weights finite?)", ErrorKind.BadCheckpoint);
        bad = Array.FindIndex(SeqRelationshipLogits, x => !float.IsFinite(x));
        if (bad >= 0)
            throw new BertSharpException($"seq_relationship_logits[{bad / 2}][{bad % 2}] = {SeqRelationshipLogits[bad]}: JSON cannot hold a non-finite number (are the weights finite?)", ErrorKind.BadCheckpoint);
    }
}
