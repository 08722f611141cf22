using Kheish.Core.Access;

namespace Kheish.Core.Tests.Access;

/// <summary>The wizard's decisions, driven in-process through a reader (the pty tests drive the binary).</summary>
public sealed class SecuritySetupWizardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-wizard-" + Guid.NewGuid().ToString("N"));
    private readonly SecurityConfigLocation _location;

    public SecuritySetupWizardTests()
    {
        Directory.CreateDirectory(_dir);
        _location = SecurityConfigLocation.Resolve(_dir, name => name == "XDG_CONFIG_HOME" ? Path.Combine(_dir, "xdg") : null);
    }

    private static SecuritySetupDefaults Defaults(SecurityMode mode = SecurityMode.Strict) =>
        new(SecurityConfigOrigin.Project, TargetFixed: false, mode, GenerateKey: false, ExtraAllowedIps: []);

    private SecuritySetupChoices? Run(string answers, SecuritySetupDefaults? defaults = null)
    {
        using var output = new StringWriter();
        return new SecuritySetupWizard(new StringReader(answers), output, _location).Run(defaults ?? Defaults());
    }

    [Test]
    public async Task Removing_loopback_needs_a_confirmation_and_no_keeps_it()
    {
        SecuritySetupChoices choices = Run("\n\n\n-127.0.0.1\nn\n\ny\n")!;

        await Assert.That(choices.AllowedIps.Select(r => r.ToString())).IsEquivalentTo(["127.0.0.1", "::1"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_invalid_allowlist_entry_is_explained_and_not_added()
    {
        SecuritySetupChoices choices = Run("\n\n\n300.1.1.1\n\ny\n")!;

        await Assert.That(choices.AllowedIps.Select(r => r.ToString())).IsEquivalentTo(["127.0.0.1", "::1"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Lax_never_generates_a_key()
    {
        SecuritySetupChoices choices = Run("\n3\n\ny\n")!;

        await Assert.That(choices.Mode).IsEqualTo(SecurityMode.Lax);
        await Assert.That(choices.GenerateKey).IsFalse();
    }

    [Test]
    public async Task Quitting_at_any_prompt_returns_no_choices()
    {
        await Assert.That(Run("2\nq\n")).IsNull();
    }

    [Test]
    public async Task The_default_answer_at_the_review_is_no()
    {
        await Assert.That(Run("\n\n\n\n\n")).IsNull();
    }

    [Test]
    public async Task Choosing_global_targets_the_global_file()
    {
        SecuritySetupChoices choices = Run("2\n\n\n\ny\n")!;

        await Assert.That(choices.Target).IsEqualTo(SecurityConfigOrigin.Global);
        await Assert.That(choices.File).IsEqualTo(_location.GlobalFile);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
