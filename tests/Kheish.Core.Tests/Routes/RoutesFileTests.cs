using System.Text;
using Kheish.Core.Routes;

namespace Kheish.Core.Tests.Routes;

public sealed class RoutesFileTests
{
    private const string Canary = "sk-canary-7f3a9c1e5b";

    private static readonly FakeCatalog Slots = new(new()
    {
        ["openai.prod"] = "openai",
        ["anthropic.main"] = "anthropic",
    });

    private static readonly Dictionary<string, string> Env = new() { ["OPENAI_API_KEY"] = "x", ["OPENAI_ORG"] = "org-1" };

    private static RoutesCheckResult Check(string toml, IAuthRefCatalog? catalog = null, string? defaultRoute = null) =>
        RoutesFile.Check(Encoding.UTF8.GetBytes(toml), "routes.toml", catalog ?? Slots, defaultRoute, name => Env.GetValueOrDefault(name));

    private static async Task<string> OnlyProblem(RoutesCheckResult result)
    {
        await Assert.That(result.IsOk).IsFalse();
        return (await Assert.That(result.Problems).HasSingleItem())!.Message;
    }

    [Test]
    public async Task A_single_route_is_the_default_and_gets_its_drivers_base_url()
    {
        RoutesCheckResult r = Check("""
            version = 1
            [routes.main]
            driver = "anthropic"
            default_model = "claude-sonnet-4"
            auth_ref = "anthropic.main"
            """);

        await Assert.That(r.IsOk).IsTrue();
        await Assert.That(r.Config!.DefaultRoute!.Value).IsEqualTo("main");
        RouteDefinition route = r.Config.Default;
        await Assert.That(route.Driver).IsSameReferenceAs(ProviderDriver.Anthropic);
        await Assert.That(route.BaseUrlText).IsEqualTo("https://api.anthropic.com");
        await Assert.That(route.ModelSupport).IsEqualTo(ModelSupport.Family);
        await Assert.That(route.Credential).IsEqualTo(new RouteCredential.AuthRef("anthropic.main"));
    }

    [Test]
    public async Task Every_field_of_a_route_is_read()
    {
        RoutesCheckResult r = Check("""
            version = 1
            default_route = "oa"
            [routes.oa]
            driver = "openai"
            default_model = "gpt-4o"
            model_support = "any"
            api_key_env = "OPENAI_API_KEY"
            base_url = "https://proxy.example.com/openai/v1"
            organization_env = "OPENAI_ORG"
            project = "proj_1"
            [routes.an]
            driver = "anthropic"
            default_model = "claude"
            api_key = "sk-inline"
            anthropic_version = "2024-01-01"
            anthropic_beta_headers = ["a-1", "b-2"]
            """);

        await Assert.That(r.IsOk).IsTrue();
        RouteDefinition oa = r.Config!.Routes[0];
        await Assert.That(oa.ModelSupport).IsEqualTo(ModelSupport.Any);
        await Assert.That(oa.BaseUrlText).IsEqualTo("https://proxy.example.com/openai/v1");
        await Assert.That(oa.Credential).IsEqualTo(new RouteCredential.EnvApiKey("OPENAI_API_KEY"));
        await Assert.That(oa.Organization).IsEqualTo(new RouteSetting.FromEnvironment("OPENAI_ORG"));
        await Assert.That(oa.Project).IsEqualTo(new RouteSetting.Literal("proj_1"));
        RouteDefinition an = r.Config.Routes[1];
        await Assert.That(an.AnthropicVersion).IsEqualTo("2024-01-01");
        await Assert.That(an.AnthropicBetaHeaders).IsEquivalentTo(["a-1", "b-2"], CollectionOrdering.Matching);
        await Assert.That((await Assert.That(an.Credential).IsTypeOf<RouteCredential.InlineApiKey>())!.Reveal()).IsEqualTo("sk-inline");
    }

    [Test]
    public async Task Not_toml_is_one_problem_with_line_and_column()
    {
        string message = await OnlyProblem(Check("version = 1\n[routes.a\n"));

        await Assert.That(message).Contains("not valid TOML: line 2, column 10");
    }

    [Test]
    public async Task An_unknown_field_is_named_with_its_route()
    {
        string message = await OnlyProblem(Check("""
            version = 1
            [routes.a]
            driver = "openai"
            default_model = "m"
            auth_ref = "openai.prod"
            colour = "blue"
            """));

        await Assert.That(message).IsEqualTo("route `a`: unknown field `colour`");
    }

    [Test]
    public async Task An_unknown_top_level_field_is_rejected()
    {
        string message = await OnlyProblem(Check("""
            version = 1
            extra = true
            [routes.a]
            driver = "openai"
            default_model = "m"
            auth_ref = "openai.prod"
            """));

        await Assert.That(message).StartsWith("unknown top-level field `extra`");
    }

    [Test]
    [Arguments("auth_ref = \"openai.prod\"\napi_key = \"k\"", "auth_ref and api_key cannot both be set")]
    [Arguments("auth_ref = \"openai.prod\"\napi_key_env = \"OPENAI_API_KEY\"", "auth_ref and api_key_env cannot both be set")]
    [Arguments("api_key = \"k\"\napi_key_env = \"OPENAI_API_KEY\"", "api_key and api_key_env cannot both be set")]
    [Arguments("api_key = \"k\"\norganization = \"o\"\norganization_env = \"OPENAI_ORG\"", "organization and organization_env cannot both be set")]
    [Arguments("api_key = \"k\"\nproject = \"p\"\nproject_env = \"OPENAI_ORG\"", "project and project_env cannot both be set")]
    public async Task Conflicting_fields_are_rejected(string fields, string expected)
    {
        string message = await OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n{fields}\n"));

        await Assert.That(message).IsEqualTo($"route `a`: {expected}");
    }

    [Test]
    public async Task A_route_without_any_credential_is_rejected()
    {
        string message = await OnlyProblem(Check("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n"));

        await Assert.That(message).IsEqualTo("route `a`: has no credential: set one of auth_ref, api_key, api_key_env");
    }

    [Test]
    [Arguments("version = 2", "routes file version 2 is not supported (this daemon reads version 1)")]
    [Arguments("version = \"1\"", "`version` must be the integer 1")]
    [Arguments("", "`version` is required (version = 1)")]
    public async Task Only_version_1_is_read(string versionLine, string expected)
    {
        string message = await OnlyProblem(Check($"{versionLine}\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n"));

        await Assert.That(message).IsEqualTo(expected);
    }

    [Test]
    public async Task An_auth_ref_to_a_slot_of_another_provider_is_rejected()
    {
        string message = await OnlyProblem(Check("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"anthropic.main\"\n"));

        await Assert.That(message).IsEqualTo("route `a` (driver openai) references auth_ref `anthropic.main`, a slot of provider `anthropic`");
    }

    [Test]
    public async Task A_missing_auth_ref_is_named_with_route_and_slot()
    {
        string message = await OnlyProblem(Check("version = 1\n[routes.openai]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.staging\"\n"));

        await Assert.That(message).IsEqualTo("route `openai` references missing auth_ref `openai.staging`");
    }

    [Test]
    public async Task Without_a_connected_store_an_auth_ref_is_unverifiable()
    {
        string message = await OnlyProblem(Check(
            "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n",
            UnverifiableAuthRefCatalog.NotConnected));

        await Assert.That(message).StartsWith("route `a` references auth_ref `openai.prod`, which cannot be verified");
    }

    [Test]
    [Arguments("api_key_env = \"NOPE_KEY\"", "api_key_env names environment variable `NOPE_KEY`, which is not set")]
    [Arguments("api_key = \"k\"\norganization_env = \"NOPE_ORG\"", "organization_env names environment variable `NOPE_ORG`, which is not set")]
    [Arguments("api_key = \"k\"\nproject_env = \"NOPE_PROJ\"", "project_env names environment variable `NOPE_PROJ`, which is not set")]
    public async Task Env_backed_values_must_be_present(string fields, string expected)
    {
        string message = await OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n{fields}\n"));

        await Assert.That(message).IsEqualTo($"route `a`: {expected}");
    }

    [Test]
    [Arguments("ftp://example.com", "must use http or https")]
    [Arguments("https://user:pw@example.com", "must not contain user info")]
    [Arguments("https://example.com/v1?key=abc", "must not contain a query")]
    [Arguments("https://example.com/v1#frag", "must not contain a fragment")]
    [Arguments("example.com/v1", "is not an absolute URL")]
    public async Task A_bad_base_url_is_rejected_without_echoing_it(string url, string reason)
    {
        string message = await OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\nbase_url = \"{url}\"\n"));

        await Assert.That(message).StartsWith($"route `a`: base_url {reason}");
        await Assert.That(message).DoesNotContain("example.com");
    }

    [Test]
    [Arguments("\"has space\"", "cannot contain whitespace")]
    [Arguments("\"a/b\"", "cannot contain '/'")]
    [Arguments("\"\"", "cannot be empty")]
    public async Task Route_ids_without_whitespace_or_slash(string id, string reason)
    {
        string message = await OnlyProblem(Check($"version = 1\n[routes.{id}]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n"));

        await Assert.That(message).Contains(reason);
    }

    [Test]
    public async Task Several_routes_need_a_default_route()
    {
        string message = await OnlyProblem(Check("""
            version = 1
            [routes.a]
            driver = "openai"
            default_model = "m"
            api_key = "k"
            [routes.b]
            driver = "xai"
            default_model = "grok"
            api_key = "k"
            """));

        await Assert.That(message).IsEqualTo("`default_route` is required when more than one route is defined");
    }

    [Test]
    public async Task A_default_route_naming_no_route_is_rejected()
    {
        string message = await OnlyProblem(Check("version = 1\ndefault_route = \"zz\"\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n"));

        await Assert.That(message).IsEqualTo("`default_route` names route `zz`, which is not defined");
    }

    [Test]
    public async Task The_default_route_override_wins_over_the_file()
    {
        RoutesCheckResult r = Check("""
            version = 1
            default_route = "a"
            [routes.a]
            driver = "openai"
            default_model = "m"
            api_key = "k"
            [routes.b]
            driver = "google"
            default_model = "gemini"
            api_key = "k"
            """, defaultRoute: "b");

        await Assert.That(r.IsOk).IsTrue();
        await Assert.That(r.Config!.DefaultRoute!.Value).IsEqualTo("b");
    }

    [Test]
    [Arguments("openrouter", "organization = \"o\"", "organization applies only to the openai driver")]
    [Arguments("openai", "anthropic_version = \"2023-06-01\"", "anthropic_version applies only to the anthropic driver")]
    [Arguments("bogus", "", "driver must be one of anthropic, google, openai, openrouter, xai")]
    public async Task Fields_must_fit_the_driver(string driver, string field, string expected)
    {
        string message = await OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"{driver}\"\ndefault_model = \"m\"\napi_key = \"k\"\n{field}\n"));

        await Assert.That(message).IsEqualTo($"route `a`: {expected}");
    }

    [Test]
    public async Task Every_problem_is_reported_not_just_the_first()
    {
        RoutesCheckResult r = Check("""
            version = 2
            [routes.a]
            driver = "openai"
            default_model = "m"
            auth_ref = "openai.missing"
            colour = 1
            [routes.b]
            driver = "openai"
            default_model = "m"
            auth_ref = "anthropic.main"
            """);

        await Assert.That(r.Problems.Select(p => p.Code)).IsEquivalentTo(["routes_version", "routes_unknown_field", "routes_default", "routes_auth_ref_missing", "routes_auth_ref_provider"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_api_key_in_a_broken_file_never_reaches_a_message()
    {
        string[] files =
        [
            $"version = 1\n[routes.a]\ndriver = \"openai\"\napi_key = \"{Canary}\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"{Canary}\"\nauth_ref = \"x\"\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"{Canary}\\u0007\"\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\nbase_url = \"https://u:{Canary}@h\"\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n{Canary} = \"v\"\napi_key = \"k\"\n",
            $"version = 1\ndefault_route = \"{Canary} x\"\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n",
            $"version = 1\ndefault_route = \"{Canary}\"\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"{Canary}\"\n",
            $"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key_env = \"{Canary.Replace('-', '_')}\"\n",
        ];

        foreach (string toml in files)
        {
            RoutesCheckResult r = Check(toml);
            await Assert.That(r.IsOk).IsFalse();
            await Assert.That(r.ToError().Message).DoesNotContain("canary");
            foreach (RouteProblem p in r.Problems)
            {
                await Assert.That(p.ToString()).DoesNotContain("canary");
            }
        }
    }

    [Test]
    public async Task Printing_a_route_never_prints_its_inline_key()
    {
        RoutesCheckResult r = Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"{Canary}\"\n");

        await Assert.That(r.IsOk).IsTrue();
        await Assert.That(r.Config!.ToString()).DoesNotContain(Canary);
        await Assert.That(r.Config.Default.Credential.ToString()).DoesNotContain(Canary);
    }

    [Test]
    public async Task A_missing_file_is_a_problem_naming_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), "kheish-no-such-" + Guid.NewGuid().ToString("N") + ".toml");

        RoutesCheckResult r = RoutesFile.LoadAndCheck(path, Slots);

        await Assert.That(r.ToError().Message).Contains(path);
        await Assert.That((await Assert.That(r.Problems).HasSingleItem())!.Code).IsEqualTo("routes_file_missing");
    }
}

internal sealed class FakeCatalog(Dictionary<string, string> providers) : IAuthRefCatalog
{
    public string? UnavailableReason => null;

    public string? ProviderOf(string slotId) => providers.GetValueOrDefault(slotId);
}
