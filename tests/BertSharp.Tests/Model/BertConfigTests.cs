using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class BertConfigTests
{
    [Theory]
    [InlineData("tiny", 2, 128, 2)]
    [InlineData("mini", 4, 256, 4)]
    [InlineData("small", 4, 512, 8)]
    [InlineData("medium", 8, 512, 8)]
    [InlineData("base", 12, 768, 12)]
    public void Presets_follow_googles_family(string name, int layers, int hidden, int heads)
    {
        var c = BertConfig.FromPreset(name);
        Assert.Equal(layers, c.NumHiddenLayers);
        Assert.Equal(hidden, c.HiddenSize);
        Assert.Equal(heads, c.NumAttentionHeads);
        Assert.Equal(4 * hidden, c.IntermediateSize);
        Assert.Equal(512, c.MaxPositionEmbeddings);
        Assert.Equal(30522, c.VocabSize);
    }

    [Fact]
    public void Base_preset_has_bert_base_parameter_count()
    {
        // bert-base-uncased BertForPreTraining: 110,106,428 parameters (decoder tied).
        var layout = new BertParameterLayout(BertConfig.FromPreset("base"));
        Assert.Equal(110_106_428L, layout.ParameterCount);
        Assert.Equal(layout.ParameterCount, BertParameterLayout.CountParameters(layout.Config));
    }

    [Fact]
    public void Json_round_trip_uses_huggingface_field_names()
    {
        var c = BertConfig.FromPreset("mini", vocabSize: 1000);
        c.HiddenAct = "gelu_new";
        string json = c.ToJson();
        Assert.Contains("\"num_hidden_layers\": 4", json);
        Assert.Contains("\"hidden_act\": \"gelu_new\"", json);
        var back = BertConfig.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.True(back.UsesTanhGelu);
    }

    [Fact]
    public void Reads_a_huggingface_config_with_extra_fields()
    {
        const string json = """
        {"architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
         "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
         "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
         "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522}
        """;
        var c = BertConfig.FromJson(json);
        Assert.Equal(12, c.NumHiddenLayers);
        Assert.Equal(64, c.HeadSize);
    }

    [Theory]
    [InlineData("{\"hidden_size\": 100, \"num_attention_heads\": 12}", "not divisible")]
    [InlineData("{\"vocab_size\": 0}", "vocab_size must be positive")]
    [InlineData("{\"num_hidden_layers\": -1}", "num_hidden_layers must be positive")]
    [InlineData("{\"hidden_act\": \"relu\"}", "hidden_act 'relu'")]
    [InlineData("{\"hidden_dropout_prob\": 1.0}", "hidden_dropout_prob")]
    [InlineData("{\"layer_norm_eps\": 0}", "layer_norm_eps")]
    [InlineData("{\"pad_token_id\": 40000}", "pad_token_id")]
    [InlineData("{\"hidden_size\": ", "not a valid BERT config.json")]
    public void Invalid_configs_are_refused_with_the_field_named(string json, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => BertConfig.FromJson(json, "my/config.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("my/config.json: ", e.Message);
    }

    [Fact]
    public void Unknown_preset_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => BertConfig.FromPreset("huge"));
        Assert.Contains("huge", e.Message);
    }
}
