using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;
using BertSharp.Tests.Training;
using Xunit.Abstractions;

namespace BertSharp.Tests.Model;

public class ModelPartsTests(ITestOutputHelper log)
{
    [Fact]
    public void Parameters_name_their_parts()
    {
        Assert.Equal(ModelParts.Embeddings, ModelParts.OfParameter("bert.embeddings.LayerNorm.bias"));
        Assert.Equal(ModelParts.SelfAttention, ModelParts.OfParameter("bert.encoder.layer.3.attention.self.key.weight"));
        Assert.Equal(ModelParts.AttentionOutput, ModelParts.OfParameter("bert.encoder.layer.0.attention.output.LayerNorm.weight"));
        Assert.Equal(ModelParts.Intermediate, ModelParts.OfParameter("bert.encoder.layer.0.intermediate.dense.bias"));
        Assert.Equal(ModelParts.Output, ModelParts.OfParameter("bert.encoder.layer.11.output.dense.weight"));
        Assert.Equal(ModelParts.Pooler, ModelParts.OfParameter("bert.pooler.dense.weight"));
        Assert.Equal(ModelParts.MlmHead, ModelParts.OfParameter("cls.predictions.bias"));
        Assert.Equal(ModelParts.NspHead, ModelParts.OfParameter("cls.seq_relationship.weight"));
        Assert.Equal(ModelParts.Classifier, ModelParts.OfParameter("classifier.bias"));
        Assert.Null(ModelParts.OfParameter("something.else"));
        // Every tensor of a model with every head has a part.
        var layout = new BertParameterLayout(TrainerTests.TinyConfig(), ["neg", "pos"]);
        Assert.All(layout.Entries, e => Assert.NotNull(ModelParts.OfParameter(e.Name)));
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void Every_kernel_of_a_pretraining_step_is_counted_with_the_layer_it_belongs_to(string precision)
    {
        var profiled = new ProfilingDevice(Device.Cpu.WithPrecision(Precisions.Parse(precision)!.Value));
        var p = new BertParameters(TrainerTests.TinyConfig(), device: profiled);
        p.Initialize(1);
        var profile = profiled.Profile;
        profile.PartOf = ModelParts.Of(p);
        var model = new BertForPreTraining(p);
        var optimizer = new AdamWOptimizer(model);
        var batch = new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 7).NextTrainingBatch();
        for (int step = 0; step < 2; step++) // the second step: buffers allocated, the bf16 weight copy made once per update
        {
            profile.Clear();
            profile.Enter("optimizer");
            p.ZeroGradients();
            profile.Enter("forward");
            model.Forward(batch, new DropoutContext(true, 7, (ulong)step));
            profile.Enter("backward", backward: true);
            model.Backward();
            profile.Enter("optimizer");
            optimizer.Step(1e-3);
        }
        var calls = profile.Attributed();
        for (int i = 0; i < calls.Count; i++) log.WriteLine($"{calls[i].Section,-9} {calls[i].Kernel,-26} {profile.Calls[i].Part ?? "-",-18} -> {calls[i].Part}");
        string Parts(string section, string kernel) =>
            string.Join(", ", calls.Where(c => c.Section == section && c.Kernel == kernel).Select(c => c.Part).Distinct().Order(StringComparer.Ordinal));

        // Attention's core (no parameters) is self-attention's, in both directions.
        foreach (var k in new[] { "SgemmBatched2D", "SoftmaxForward" }) Assert.Equal(ModelParts.SelfAttention, Parts("forward", k));
        foreach (var k in new[] { "SgemmBatched2D", "SoftmaxBackward" }) Assert.Equal(ModelParts.SelfAttention, Parts("backward", k));
        // GELU belongs to the intermediate layer and the MLM transform, forward and backward.
        Assert.Equal("MLM head, intermediate", Parts("forward", "Gelu"));
        Assert.Equal("MLM head, intermediate", Parts("backward", "GeluBackward"));
        // Dropout: after the embeddings' LayerNorm, on the attention probabilities, before each residual.
        Assert.Equal("attention output, embeddings, output, self-attention", Parts("forward", "DropoutForward"));
        Assert.Equal("attention output, embeddings, output, self-attention", Parts("backward", "DropoutBackward"));
        Assert.Equal("attention output, output", Parts("forward", "Add"));
        // The tied decoder is the MLM head's, not the embeddings'.
        Assert.Equal(ModelParts.MlmHead, Parts("forward", "BiasCrossEntropyForward"));
        Assert.Equal(ModelParts.MlmHead, Parts("backward", "BiasCrossEntropyBackward"));
        Assert.DoesNotContain(calls, c => c.Part == ModelParts.Embeddings && c.Kernel.StartsWith("Sgemm", StringComparison.Ordinal));
        Assert.Equal(ModelParts.Pooler, Parts("forward", "Tanh"));
        Assert.Equal(ModelParts.NspHead, Parts("forward", "CrossEntropyForward"));
        Assert.Equal(ModelParts.NspHead, Parts("backward", "CrossEntropyBackward"));
        // The batch's copy in and the attention mask made from it.
        Assert.Equal(ModelParts.Inputs, Parts("forward", "CopyToDevice"));
        Assert.Equal(ModelParts.Inputs, Parts("forward", "AttentionMask"));
        // The optimiser works on the flat buffer (every part at once).
        Assert.Equal(ModelParts.AllParameters, Parts("optimizer", "Zero"));
        Assert.Equal(ModelParts.AllParameters, Parts("optimizer", "AdamWStep"));
        Assert.Equal(ModelParts.AllParameters, Parts("optimizer", "SumOfSquares"));
        // Every part of the model shows up in both passes, and nothing is left unplaced.
        string[] parts = [ModelParts.Embeddings, ModelParts.SelfAttention, ModelParts.AttentionOutput, ModelParts.Intermediate,
            ModelParts.Output, ModelParts.Pooler, ModelParts.MlmHead, ModelParts.NspHead];
        foreach (var section in new[] { "forward", "backward" })
            Assert.Equal(parts.Order(StringComparer.Ordinal),
                calls.Where(c => c.Section == section && c.Part is not (ModelParts.AllParameters or ModelParts.Inputs)).Select(c => c.Part!).Distinct().Order(StringComparer.Ordinal));
        // bf16: the weights' bf16 copy, once per update, at the start of the forward pass.
        Assert.Equal(precision == "bf16" ? 1 : 0, calls.Count(c => c.Kernel == "Cast"));
    }
}
