using System.Text;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Limits;

public sealed class ApiKeyLimitsConfigTests
{
    private const string Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    private static Result<SecurityConfig> Parse(string keyFields) =>
        SecurityConfigFile.Parse(Encoding.UTF8.GetBytes($$"""{"api_keys":[{"id":"a","digest":"{{Digest}}"{{keyFields}}}]}"""), "/p/security.json");

    [Test]
    public async Task Limits_are_read_per_key()
    {
        ApiKeyEntry key = Parse(""","rate_limit":60,"max_concurrent":4,"budget":{"requests_per_day":1000,"tokens_per_month":5000000}""").Value.ApiKeys[0];
        await Assert.That(key.Limits).IsEqualTo(new ApiKeyLimits(60, 4, new ApiKeyBudget(1000, null, 5000000)));
    }

    [Test]
    public async Task A_key_without_limit_fields_is_unlimited()
    {
        await Assert.That(Parse("").Value.ApiKeys[0].Limits).IsNull();
    }

    [Test]
    [Arguments(""","rate_limit":0""", "api_keys[0].rate_limit must be an integer from 1 to")]
    [Arguments(",\"rate_limit\":\"60\"", "api_keys[0].rate_limit must be an integer")]
    [Arguments(""","rate_limit":1.5""", "api_keys[0].rate_limit must be an integer")]
    [Arguments(""","max_concurrent":-1""", "api_keys[0].max_concurrent must be an integer")]
    [Arguments(""","budget":5""", "api_keys[0].budget must be an object")]
    [Arguments(""","budget":{}""", "at least one of requests_per_day")]
    [Arguments(""","budget":{"tokens_per_week":5}""", "api_keys[0].budget: unknown field")]
    [Arguments(""","budget":{"tokens_per_day":0}""", "api_keys[0].budget.tokens_per_day must be an integer from 1")]
    [Arguments(""","budget":{"tokens_per_day":1,"tokens_per_day":2}""", "appears more than once")]
    public async Task Bad_limits_are_refused_with_the_field_named(string fields, string expected)
    {
        Result<SecurityConfig> parsed = Parse(fields);
        await Assert.That(parsed.IsOk).IsFalse();
        await Assert.That(parsed.Error!.Message).Contains(expected);
    }

    [Test]
    public async Task Limits_survive_a_save_and_load()
    {
        string dir = Path.Combine(Path.GetTempPath(), "kheish-limits-" + Guid.NewGuid().ToString("N"));
        try
        {
            string file = Path.Combine(dir, "security.json");
            Directory.CreateDirectory(dir);
            SecurityConfig config = Parse(""","rate_limit":7,"budget":{"tokens_per_day":9}""").Value;
            SecurityConfigFile.Save(file, config);
            SecurityConfig loaded = SecurityConfigFile.Load(file)!.Value.Value;
            await Assert.That(loaded.ApiKeys[0].Limits).IsEqualTo(new ApiKeyLimits(7, null, new ApiKeyBudget(null, 9, null)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
