// Semantic search: embeds a few sentences through Microsoft.Extensions.AI's IEmbeddingGenerator and ranks them by
// cosine similarity to a query.   dotnet run --project examples/Embeddings -- runs/sample "the acting was superb"
using System.Numerics.Tensors;
using BertSharp.IO;
using BertSharp.Pipelines;
using Microsoft.Extensions.AI;

string modelPath = args.Length > 0 ? args[0] : "runs/sample";
string query = args.Length > 1 ? args[1] : "the acting was superb";
string[] sentences = args.Length > 2 ? args[2..] :
    ["the acting is brilliant and the music is lovely.", "the story is set in a small town.",
     "two out of ten, i want my time back.", "i loved every minute of it."];

using IEmbeddingGenerator<string, Embedding<float>> embedder = new BertEmbeddingGenerator(PretrainedModel.Load(modelPath));
var vectors = await embedder.GenerateAsync(sentences);
var q = await embedder.GenerateVectorAsync(query);
var ranked = sentences.Zip(vectors, (s, v) => (Sentence: s, Score: TensorPrimitives.CosineSimilarity(q.Span, v.Vector.Span)))
    .OrderByDescending(r => r.Score);
foreach (var (sentence, score) in ranked) Console.WriteLine($"{score:F3}  {sentence}");
