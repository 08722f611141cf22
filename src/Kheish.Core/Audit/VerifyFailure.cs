namespace Kheish.Core.Audit;

/// <summary>What is wrong with one record, checkpoint or index. <c>Index</c> is the 0-based record index.</summary>
internal sealed record VerifyFailure(string Code, string Reason, long? Index = null)
{
    /// <summary>1-based line number in the bucket file, when the failure is about a record.</summary>
    public long? Line => Index + 1;
}
