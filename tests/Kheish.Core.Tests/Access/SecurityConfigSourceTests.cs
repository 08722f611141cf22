using System.Net;
using Kheish.Core.Access;
using static Kheish.Core.Tests.Access.AccessFixtures;

namespace Kheish.Core.Tests.Access;

public sealed class SecurityConfigSourceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-source-" + Guid.NewGuid().ToString("N"));
    private readonly SecurityConfigLocation _location;

    public SecurityConfigSourceTests()
    {
        string project = Path.Combine(_dir, "project");
        Directory.CreateDirectory(project);
        _location = SecurityConfigLocation.Resolve(project, name => name == "XDG_CONFIG_HOME" ? Path.Combine(_dir, "xdg") : null);
    }

    private static AgentAccessDecision Ask(SecurityConfigSource source, string? key, string ip = "127.0.0.1") =>
        AgentAccessPolicy.Evaluate(source.Current(), IPAddress.Parse(ip), null, key, null);

    private static SecurityConfig WithKey(SecurityMode mode, string key) =>
        new(mode, [Entry(key)], IpAllowList.Empty, IpAllowList.Empty, null);

    [Test]
    public async Task The_global_file_follows_XDG_CONFIG_HOME()
    {
        await Assert.That(_location.GlobalFile).IsEqualTo(Path.Combine(_dir, "xdg", "kheish", "security.json"));
        await Assert.That(_location.ProjectFile).IsEqualTo(Path.Combine(_dir, "project", ".kheish", "security.json"));
    }

    [Test]
    public async Task Without_any_file_the_default_is_strict_with_no_keys()
    {
        var source = new SecurityConfigSource(_location);

        SecurityConfigSnapshot s = source.Current();

        await Assert.That(s.Origin).IsEqualTo(SecurityConfigOrigin.Default);
        await Assert.That((await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>())!.Status).IsEqualTo(401);
    }

    [Test]
    public async Task The_project_file_replaces_the_global_file_as_a_whole()
    {
        string globalKey = ApiKeys.Generate();
        SecurityConfigFile.Save(_location.GlobalFile, WithKey(SecurityMode.Strict, globalKey).WithAllowedIps([IpRule.Parse("10.0.0.0/8").Value]));
        SecurityConfigFile.Save(_location.ProjectFile, WithKey(SecurityMode.Strict, ApiKeys.Generate()));
        var source = new SecurityConfigSource(_location);

        SecurityConfigSnapshot s = source.Current();

        await Assert.That(s.Origin).IsEqualTo(SecurityConfigOrigin.Project);
        await Assert.That(s.File).IsEqualTo(_location.ProjectFile);
        await Assert.That(s.Config!.AllowedIps.IsEmpty).IsTrue();
        await Assert.That(Ask(source, globalKey)).IsTypeOf<AgentAccessDenied>();
    }

    [Test]
    public async Task A_project_file_appearing_and_disappearing_switches_files_on_the_next_request()
    {
        string globalKey = ApiKeys.Generate();
        SecurityConfigFile.Save(_location.GlobalFile, WithKey(SecurityMode.Strict, globalKey));
        var source = new SecurityConfigSource(_location);
        await Assert.That(Ask(source, globalKey)).IsTypeOf<AgentAccessAllowed>();

        SecurityConfigFile.Save(_location.ProjectFile, WithKey(SecurityMode.Strict, ApiKeys.Generate()));
        await Assert.That(Ask(source, globalKey)).IsTypeOf<AgentAccessDenied>();

        File.Delete(_location.ProjectFile);
        await Assert.That(Ask(source, globalKey)).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task A_revoked_key_is_refused_on_the_very_next_request()
    {
        string key = ApiKeys.Generate();
        SecurityConfig config = WithKey(SecurityMode.Strict, key);
        SecurityConfigFile.Save(_location.ProjectFile, config);
        var source = new SecurityConfigSource(_location);
        await Assert.That(Ask(source, key)).IsTypeOf<AgentAccessAllowed>();

        SecurityConfigFile.Save(_location.ProjectFile, config.WithoutKey(config.ApiKeys[0].Id));

        var denied = (await Assert.That(Ask(source, key)).IsTypeOf<AgentAccessDenied>())!;
        await Assert.That(denied.Error.Code).IsEqualTo("invalid_api_key");
    }

    [Test]
    public async Task An_in_place_edit_of_the_mode_is_seen_on_the_next_request()
    {
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.GetDirectoryName(_location.ProjectFile)!).FullName, "security.json"), """{"mode":"strict"}""");
        var source = new SecurityConfigSource(_location);
        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>();

        File.WriteAllText(_location.ProjectFile, """{"mode":"relaxed"}""");

        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task An_unchanged_file_is_not_read_again()
    {
        SecurityConfigFile.Save(_location.ProjectFile, SecurityConfig.Default);
        var source = new SecurityConfigSource(_location);

        for (int i = 0; i < 50; i++)
        {
            source.Current();
        }

        await Assert.That(source.LoadCount).IsEqualTo(1);
    }

    [Test]
    public async Task A_malformed_file_fails_closed_even_in_a_lax_global_setup()
    {
        SecurityConfigFile.Save(_location.GlobalFile, new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null));
        Directory.CreateDirectory(Path.GetDirectoryName(_location.ProjectFile)!);
        File.WriteAllText(_location.ProjectFile, """{"mode": "lax", """);
        var source = new SecurityConfigSource(_location);

        var denied = (await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Status).IsEqualTo(503);
        await Assert.That(denied.Error.Code).IsEqualTo("config_invalid");
        await Assert.That(denied.Error.Message).Contains(_location.ProjectFile);
    }

    [Test]
    public async Task Fixing_a_malformed_file_restores_service_without_restart()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_location.ProjectFile)!);
        File.WriteAllText(_location.ProjectFile, "{not json");
        var source = new SecurityConfigSource(_location);
        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>();

        File.WriteAllText(_location.ProjectFile, """{"mode":"relaxed"}""");

        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task A_project_path_that_is_a_directory_fails_closed_instead_of_falling_back_to_global()
    {
        SecurityConfigFile.Save(_location.GlobalFile, new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null));
        Directory.CreateDirectory(_location.ProjectFile);
        var source = new SecurityConfigSource(_location);

        var denied = (await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Error.Code).IsEqualTo("config_invalid");
    }

    [Test]
    public async Task A_world_writable_file_fails_closed_until_it_is_made_private()
    {
        SecurityConfigFile.Save(_location.ProjectFile, SecurityConfig.Default.WithMode(SecurityMode.Relaxed));
        File.SetUnixFileMode(_location.ProjectFile, (UnixFileMode)0b110_110_110);
        var source = new SecurityConfigSource(_location);

        var denied = (await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>())!;
        await Assert.That(denied.Error.Message).Contains("chmod 600");

        File.SetUnixFileMode(_location.ProjectFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task Switching_to_lax_while_running_on_a_network_bind_refuses_every_request()
    {
        SecurityConfigFile.Save(_location.ProjectFile, SecurityConfig.Default.WithMode(SecurityMode.Relaxed));
        var source = new SecurityConfigSource(_location, laxPermitted: false);
        await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessAllowed>();

        SecurityConfigFile.Save(_location.ProjectFile, SecurityConfig.Default.WithMode(SecurityMode.Lax));

        var denied = (await Assert.That(Ask(source, null)).IsTypeOf<AgentAccessDenied>())!;
        await Assert.That(denied.Error.Message).Contains("--allow-lax-on-network");
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
