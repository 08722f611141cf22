using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressRequestTargetTests
{
    [Fact]
    public void Splits_the_upstream_path_and_keeps_the_agents_encoding()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/openai/files/a%20b?x=1&y=%2F").Value;

        Assert.Equal("/files/a%20b", t.Path);
        Assert.Equal("x=1&y=%2F", t.Query);
        Assert.Equal("http://h/v1/files/a%20b?x=1&y=%2F", t.UpstreamUri("http://h/v1").OriginalString);
    }

    [Fact]
    public void A_route_without_a_path_calls_the_base_url()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/openai").Value;

        Assert.Equal(string.Empty, t.Path);
        Assert.Equal("openai GET /", t.LedgerTarget("openai", "GET"));
    }

    [Theory]
    [InlineData("key=abc&x=1", "x=1")]
    [InlineData("API_KEY=abc", "")]
    [InlineData("x=1&access_token=t&y=2", "x=1&y=2")]
    [InlineData("k%65y=abc&x=1", "x=1")]
    [InlineData("monkey=1", "monkey=1")]
    public void Credential_query_parameters_are_dropped(string query, string expected)
    {
        Assert.Equal(expected, EgressRequestTarget.FilterQuery(query));
    }

    [Theory]
    [InlineData("/agent/v1/routes/openai/../x")]
    [InlineData("/agent/v1/routes/openai/%2e%2e/x")]
    [InlineData("/agent/v1/routes/openai/a%2Fb")]
    [InlineData("/agent/v1/routes/openai/a%5C..")]
    [InlineData("/agent/v1/routes/openai/a%0Ab")]
    public void Paths_that_could_escape_the_base_path_are_refused(string raw)
    {
        Assert.Equal("invalid_upstream_path", EgressRequestTarget.Parse(raw).Error!.Code);
    }

    [Fact]
    public void Ledger_target_keeps_query_parameter_names_only()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/google/v1/models?alt=sse&pageToken=secret-value&alt=json").Value;

        string target = t.LedgerTarget("google", "POST");

        Assert.Equal("google POST /v1/models?alt&pageToken", target);
        Assert.DoesNotContain("secret-value", target);
    }

    [Theory]
    [InlineData("run-1", true)]
    [InlineData("a.b:c@d_e", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("tab\there", false)]
    [InlineData("é", false)]
    public void Context_ids_are_short_visible_ascii(string id, bool valid)
    {
        Assert.Equal(valid, EgressRequestTarget.IsValidContextId(id));
    }

    [Fact]
    public void Context_id_of_129_characters_is_refused()
    {
        Assert.True(EgressRequestTarget.IsValidContextId(new string('a', 128)));
        Assert.False(EgressRequestTarget.IsValidContextId(new string('a', 129)));
    }
}
