using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class DropoutSitesTests
{
    // The sites feed the counter that draws every dropout mask: these values are what past runs (and the README's
    // figures) were trained with, so a change here must be deliberate.
    [Fact]
    public void SitesKeepTheirValues()
    {
        Assert.Equal(0u, DropoutSites.Embeddings);
        Assert.Equal(0x4000_0000u, DropoutSites.Classifier);
        Assert.Equal(1u, DropoutSites.AttentionProbs(0));
        Assert.Equal(2u, DropoutSites.AttentionOutput(0));
        Assert.Equal(3u, DropoutSites.Output(0));
        Assert.Equal(34u, DropoutSites.AttentionProbs(11));
        Assert.Equal(35u, DropoutSites.AttentionOutput(11));
        Assert.Equal(36u, DropoutSites.Output(11));
    }

    [Fact]
    public void EverySiteOfADeepModelIsDistinct()
    {
        var sites = new HashSet<uint> { DropoutSites.Embeddings, DropoutSites.Classifier };
        for (int l = 0; l < 48; l++)
        {
            Assert.True(sites.Add(DropoutSites.AttentionProbs(l)));
            Assert.True(sites.Add(DropoutSites.AttentionOutput(l)));
            Assert.True(sites.Add(DropoutSites.Output(l)));
        }
    }
}
