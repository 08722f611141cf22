using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Audit;

namespace Kheish.Core.Tests.Audit;

public sealed class BucketNameTests
{
    [Test]
    [Arguments("run-1", null, "run-1")]
    [Arguments("run-1", "s1", "run-1")]
    [Arguments(null, "s1", "session-s1")]
    [Arguments(null, null, "unscoped")]
    public async Task Bucket_is_the_run_else_the_session_else_unscoped(string? run, string? session, string expected)
    {
        await Assert.That(BucketName.For(run, session)).IsEqualTo(expected);
    }

    [Test]
    [Arguments("run-1")]
    [Arguments("session-abc.DEF_9")]
    [Arguments("unscoped")]
    public async Task A_plainly_safe_bucket_is_its_own_file_stem(string bucket)
    {
        await Assert.That(BucketName.FileStem(bucket)).IsEqualTo(bucket);
    }

    [Test]
    [Arguments("../../etc/passwd")]
    [Arguments("..")]
    [Arguments(".")]
    [Arguments(".hidden")]
    [Arguments("a/b")]
    [Arguments("a\\b")]
    [Arguments("run 1")]
    [Arguments("_h")]
    [Arguments("-rf")]
    [Arguments("ünïcode")]
    [Arguments("nul\0byte")]
    public async Task An_unsafe_bucket_is_stored_under_a_hashed_stem(string bucket)
    {
        string stem = BucketName.FileStem(bucket);

        await Assert.That(stem).Matches("^_[0-9a-f]{64}$");
    }

    [Test]
    public async Task A_very_long_bucket_is_hashed()
    {
        await Assert.That(BucketName.FileStem(new string('a', 101))).Matches("^_[0-9a-f]{64}$");
    }

    [Test]
    public void Stems_never_escape_the_ledger_directory()
    {
        Prop.ForAll<string>(bucket =>
        {
            if (bucket is null)
            {
                return true;
            }

            string stem = BucketName.FileStem(bucket);
            return !stem.Contains('/') && !stem.Contains('\0') && stem is not ("." or "..") && !stem.StartsWith('.') && stem.Length <= 100;
        }).QuickCheckThrowOnFailure();
    }

    [Test]
    public void Different_buckets_get_different_stems()
    {
        Prop.ForAll<string, string>((a, b) =>
            a is null || b is null || a == b || BucketName.FileStem(a) != BucketName.FileStem(b)).QuickCheckThrowOnFailure();
    }
}
