using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressRequestTargetTests
{
    [Test]
    public async Task Splits_the_upstream_path_and_keeps_the_agents_encoding()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/openai/files/a%20b?x=1&y=%2F").Value;

        await Assert.That(t.Path).IsEqualTo("/files/a%20b");
        await Assert.That(t.Query).IsEqualTo("x=1&y=%2F");
        await Assert.That(t.UpstreamUri("http://h/v1").OriginalString).IsEqualTo("http://h/v1/files/a%20b?x=1&y=%2F");
    }

    [Test]
    public async Task A_route_without_a_path_calls_the_base_url()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/openai").Value;

        await Assert.That(t.Path).IsEqualTo(string.Empty);
        await Assert.That(t.LedgerTarget("openai", "GET")).IsEqualTo("openai GET /");
    }

    [Test]
    [Arguments("key=abc&x=1", "x=1")]
    [Arguments("API_KEY=abc", "")]
    [Arguments("x=1&access_token=t&y=2", "x=1&y=2")]
    [Arguments("k%65y=abc&x=1", "x=1")]
    [Arguments("monkey=1", "monkey=1")]
    public async Task Credential_query_parameters_are_dropped(string query, string expected)
    {
        await Assert.That(EgressRequestTarget.FilterQuery(query)).IsEqualTo(expected);
    }

    [Test]
    [Arguments("/agent/v1/routes/openai/../x")]
    [Arguments("/agent/v1/routes/openai/%2e%2e/x")]
    [Arguments("/agent/v1/routes/openai/a%2Fb")]
    [Arguments("/agent/v1/routes/openai/a%5C..")]
    [Arguments("/agent/v1/routes/openai/a%0Ab")]
    public async Task Paths_that_could_escape_the_base_path_are_refused(string raw)
    {
        await Assert.That(EgressRequestTarget.Parse(raw).Error!.Code).IsEqualTo("invalid_upstream_path");
    }

    [Test]
    public async Task Ledger_target_keeps_query_parameter_names_only()
    {
        EgressRequestTarget t = EgressRequestTarget.Parse("/agent/v1/routes/google/v1/models?alt=sse&pageToken=secret-value&alt=json").Value;

        string target = t.LedgerTarget("google", "POST");

        await Assert.That(target).IsEqualTo("google POST /v1/models?alt&pageToken");
        await Assert.That(target).DoesNotContain("secret-value");
    }

    [Test]
    [Arguments("run-1", true)]
    [Arguments("a.b:c@d_e", true)]
    [Arguments("", false)]
    [Arguments("has space", false)]
    [Arguments("tab\there", false)]
    [Arguments("é", false)]
    public async Task Context_ids_are_short_visible_ascii(string id, bool valid)
    {
        await Assert.That(EgressRequestTarget.IsValidContextId(id)).IsEqualTo(valid);
    }

    [Test]
    public async Task Context_id_of_129_characters_is_refused()
    {
        await Assert.That(EgressRequestTarget.IsValidContextId(new string('a', 128))).IsTrue();
        await Assert.That(EgressRequestTarget.IsValidContextId(new string('a', 129))).IsFalse();
    }
}
