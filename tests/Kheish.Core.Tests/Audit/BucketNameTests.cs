using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Audit;

namespace Kheish.Core.Tests.Audit;

public sealed class BucketNameTests
{
    [Theory]
    [InlineData("run-1", null, "run-1")]
    [InlineData("run-1", "s1", "run-1")]
    [InlineData(null, "s1", "session-s1")]
    [InlineData(null, null, "unscoped")]
    public void Bucket_is_the_run_else_the_session_else_unscoped(string? run, string? session, string expected)
    {
        Assert.Equal(expected, BucketName.For(run, session));
    }

    [Theory]
    [InlineData("run-1")]
    [InlineData("session-abc.DEF_9")]
    [InlineData("unscoped")]
    public void A_plainly_safe_bucket_is_its_own_file_stem(string bucket)
    {
        Assert.Equal(bucket, BucketName.FileStem(bucket));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("run 1")]
    [InlineData("_h")]
    [InlineData("-rf")]
    [InlineData("ünïcode")]
    [InlineData("nul\0byte")]
    public void An_unsafe_bucket_is_stored_under_a_hashed_stem(string bucket)
    {
        string stem = BucketName.FileStem(bucket);

        Assert.Matches("^_[0-9a-f]{64}$", stem);
    }

    [Fact]
    public void A_very_long_bucket_is_hashed()
    {
        Assert.Matches("^_[0-9a-f]{64}$", BucketName.FileStem(new string('a', 101)));
    }

    [Fact]
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

    [Fact]
    public void Different_buckets_get_different_stems()
    {
        Prop.ForAll<string, string>((a, b) =>
            a is null || b is null || a == b || BucketName.FileStem(a) != BucketName.FileStem(b)).QuickCheckThrowOnFailure();
    }
}
