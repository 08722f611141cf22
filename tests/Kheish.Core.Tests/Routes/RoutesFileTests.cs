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

    private static string OnlyProblem(RoutesCheckResult result)
    {
        Assert.False(result.IsOk);
        return Assert.Single(result.Problems).Message;
    }

    [Fact]
    public void A_single_route_is_the_default_and_gets_its_drivers_base_url()
    {
        RoutesCheckResult r = Check("""
            version = 1
            [routes.main]
            driver = "anthropic"
            default_model = "claude-sonnet-4"
            auth_ref = "anthropic.main"
            """);

        Assert.True(r.IsOk, string.Join("\n", r.Problems));
        Assert.Equal("main", r.Config.DefaultRoute.Value);
        RouteDefinition route = r.Config.Default;
        Assert.Same(ProviderDriver.Anthropic, route.Driver);
        Assert.Equal("https://api.anthropic.com", route.BaseUrlText);
        Assert.Equal(ModelSupport.Family, route.ModelSupport);
        Assert.Equal(new RouteCredential.AuthRef("anthropic.main"), route.Credential);
    }

    [Fact]
    public void Every_field_of_a_route_is_read()
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

        Assert.True(r.IsOk, string.Join("\n", r.Problems));
        RouteDefinition oa = r.Config.Routes[0];
        Assert.Equal(ModelSupport.Any, oa.ModelSupport);
        Assert.Equal("https://proxy.example.com/openai/v1", oa.BaseUrlText);
        Assert.Equal(new RouteCredential.EnvApiKey("OPENAI_API_KEY"), oa.Credential);
        Assert.Equal(new RouteSetting.FromEnvironment("OPENAI_ORG"), oa.Organization);
        Assert.Equal(new RouteSetting.Literal("proj_1"), oa.Project);
        RouteDefinition an = r.Config.Routes[1];
        Assert.Equal("2024-01-01", an.AnthropicVersion);
        Assert.Equal(["a-1", "b-2"], an.AnthropicBetaHeaders);
        Assert.Equal("sk-inline", Assert.IsType<RouteCredential.InlineApiKey>(an.Credential).Reveal());
    }

    [Fact]
    public void Not_toml_is_one_problem_with_line_and_column()
    {
        string message = OnlyProblem(Check("version = 1\n[routes.a\n"));

        Assert.Contains("not valid TOML: line 2, column 10", message);
    }

    [Fact]
    public void An_unknown_field_is_named_with_its_route()
    {
        string message = OnlyProblem(Check("""
            version = 1
            [routes.a]
            driver = "openai"
            default_model = "m"
            auth_ref = "openai.prod"
            colour = "blue"
            """));

        Assert.Equal("route `a`: unknown field `colour`", message);
    }

    [Fact]
    public void An_unknown_top_level_field_is_rejected()
    {
        string message = OnlyProblem(Check("""
            version = 1
            extra = true
            [routes.a]
            driver = "openai"
            default_model = "m"
            auth_ref = "openai.prod"
            """));

        Assert.StartsWith("unknown top-level field `extra`", message);
    }

    [Theory]
    [InlineData("auth_ref = \"openai.prod\"\napi_key = \"k\"", "auth_ref and api_key cannot both be set")]
    [InlineData("auth_ref = \"openai.prod\"\napi_key_env = \"OPENAI_API_KEY\"", "auth_ref and api_key_env cannot both be set")]
    [InlineData("api_key = \"k\"\napi_key_env = \"OPENAI_API_KEY\"", "api_key and api_key_env cannot both be set")]
    [InlineData("api_key = \"k\"\norganization = \"o\"\norganization_env = \"OPENAI_ORG\"", "organization and organization_env cannot both be set")]
    [InlineData("api_key = \"k\"\nproject = \"p\"\nproject_env = \"OPENAI_ORG\"", "project and project_env cannot both be set")]
    public void Conflicting_fields_are_rejected(string fields, string expected)
    {
        string message = OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n{fields}\n"));

        Assert.Equal($"route `a`: {expected}", message);
    }

    [Fact]
    public void A_route_without_any_credential_is_rejected()
    {
        string message = OnlyProblem(Check("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n"));

        Assert.Equal("route `a`: has no credential: set one of auth_ref, api_key, api_key_env", message);
    }

    [Theory]
    [InlineData("version = 2", "routes file version 2 is not supported (this daemon reads version 1)")]
    [InlineData("version = \"1\"", "`version` must be the integer 1")]
    [InlineData("", "`version` is required (version = 1)")]
    public void Only_version_1_is_read(string versionLine, string expected)
    {
        string message = OnlyProblem(Check($"{versionLine}\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n"));

        Assert.Equal(expected, message);
    }

    [Fact]
    public void An_auth_ref_to_a_slot_of_another_provider_is_rejected()
    {
        string message = OnlyProblem(Check("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"anthropic.main\"\n"));

        Assert.Equal("route `a` (driver openai) references auth_ref `anthropic.main`, a slot of provider `anthropic`", message);
    }

    [Fact]
    public void A_missing_auth_ref_is_named_with_route_and_slot()
    {
        string message = OnlyProblem(Check("version = 1\n[routes.openai]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.staging\"\n"));

        Assert.Equal("route `openai` references missing auth_ref `openai.staging`", message);
    }

    [Fact]
    public void Without_a_connected_store_an_auth_ref_is_unverifiable()
    {
        string message = OnlyProblem(Check(
            "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n",
            UnverifiableAuthRefCatalog.NotConnected));

        Assert.StartsWith("route `a` references auth_ref `openai.prod`, which cannot be verified", message);
    }

    [Theory]
    [InlineData("api_key_env = \"NOPE_KEY\"", "api_key_env names environment variable `NOPE_KEY`, which is not set")]
    [InlineData("api_key = \"k\"\norganization_env = \"NOPE_ORG\"", "organization_env names environment variable `NOPE_ORG`, which is not set")]
    [InlineData("api_key = \"k\"\nproject_env = \"NOPE_PROJ\"", "project_env names environment variable `NOPE_PROJ`, which is not set")]
    public void Env_backed_values_must_be_present(string fields, string expected)
    {
        string message = OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\n{fields}\n"));

        Assert.Equal($"route `a`: {expected}", message);
    }

    [Theory]
    [InlineData("ftp://example.com", "must use http or https")]
    [InlineData("https://user:pw@example.com", "must not contain user info")]
    [InlineData("https://example.com/v1?key=abc", "must not contain a query")]
    [InlineData("https://example.com/v1#frag", "must not contain a fragment")]
    [InlineData("example.com/v1", "is not an absolute URL")]
    public void A_bad_base_url_is_rejected_without_echoing_it(string url, string reason)
    {
        string message = OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\nbase_url = \"{url}\"\n"));

        Assert.StartsWith($"route `a`: base_url {reason}", message);
        Assert.DoesNotContain("example.com", message);
    }

    [Theory]
    [InlineData("\"has space\"", "cannot contain whitespace")]
    [InlineData("\"a/b\"", "cannot contain '/'")]
    [InlineData("\"\"", "cannot be empty")]
    public void Route_ids_without_whitespace_or_slash(string id, string reason)
    {
        string message = OnlyProblem(Check($"version = 1\n[routes.{id}]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n"));

        Assert.Contains(reason, message);
    }

    [Fact]
    public void Several_routes_need_a_default_route()
    {
        string message = OnlyProblem(Check("""
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

        Assert.Equal("`default_route` is required when more than one route is defined", message);
    }

    [Fact]
    public void A_default_route_naming_no_route_is_rejected()
    {
        string message = OnlyProblem(Check("version = 1\ndefault_route = \"zz\"\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n"));

        Assert.Equal("`default_route` names route `zz`, which is not defined", message);
    }

    [Fact]
    public void The_default_route_override_wins_over_the_file()
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

        Assert.True(r.IsOk);
        Assert.Equal("b", r.Config.DefaultRoute.Value);
    }

    [Theory]
    [InlineData("openrouter", "organization = \"o\"", "organization applies only to the openai driver")]
    [InlineData("openai", "anthropic_version = \"2023-06-01\"", "anthropic_version applies only to the anthropic driver")]
    [InlineData("bogus", "", "driver must be one of anthropic, google, openai, openrouter, xai")]
    public void Fields_must_fit_the_driver(string driver, string field, string expected)
    {
        string message = OnlyProblem(Check($"version = 1\n[routes.a]\ndriver = \"{driver}\"\ndefault_model = \"m\"\napi_key = \"k\"\n{field}\n"));

        Assert.Equal($"route `a`: {expected}", message);
    }

    [Fact]
    public void Every_problem_is_reported_not_just_the_first()
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

        Assert.Equal(
            ["routes_version", "routes_unknown_field", "routes_default", "routes_auth_ref_missing", "routes_auth_ref_provider"],
            r.Problems.Select(p => p.Code));
    }

    [Fact]
    public void An_api_key_in_a_broken_file_never_reaches_a_message()
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
            Assert.False(r.IsOk);
            Assert.DoesNotContain("canary", r.ToError().Message);
            Assert.All(r.Problems, p => Assert.DoesNotContain("canary", p.ToString()));
        }
    }

    [Fact]
    public void Printing_a_route_never_prints_its_inline_key()
    {
        RoutesCheckResult r = Check($"version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"{Canary}\"\n");

        Assert.True(r.IsOk);
        Assert.DoesNotContain(Canary, r.Config.ToString());
        Assert.DoesNotContain(Canary, r.Config.Default.Credential.ToString());
    }

    [Fact]
    public void A_missing_file_is_a_problem_naming_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), "kheish-no-such-" + Guid.NewGuid().ToString("N") + ".toml");

        RoutesCheckResult r = RoutesFile.LoadAndCheck(path, Slots);

        Assert.Contains(path, r.ToError().Message);
        Assert.Equal("routes_file_missing", Assert.Single(r.Problems).Code);
    }
}

internal sealed class FakeCatalog(Dictionary<string, string> providers) : IAuthRefCatalog
{
    public string? UnavailableReason => null;

    public string? ProviderOf(string slotId) => providers.GetValueOrDefault(slotId);
}
