using Kheish.Core.Audit;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Audit;

/// <summary>A temp state root with a signing key, and helpers to fill and tamper with its ledger.</summary>
internal sealed class LedgerTestRoot : IDisposable
{
    public LedgerTestRoot()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kheish-ledger-" + Guid.NewGuid().ToString("N")[..12]);
        Root = new StateRoot(System.IO.Path.Combine(Path, "state"));
        Paths = new LedgerPaths(Root);
        Key = Ed25519PrivateKey.Generate();
    }

    public string Path { get; }

    public StateRoot Root { get; }

    public LedgerPaths Paths { get; }

    public Ed25519PrivateKey Key { get; }

    public static readonly LedgerOptions FastCheckpoints = new() { CheckpointInterval = TimeSpan.FromMilliseconds(1) };

    public ExternalActionLedger Open(Ed25519PrivateKey? key = null) =>
        ExternalActionLedger.Open(Root, key ?? Key, FastCheckpoints).Value;

    public static ExternalActionEvent Event(string? run = "run-1", ActionPhase phase = ActionPhase.Started, string? session = null, string target = "https://api.example.test/v1/chat") =>
        new(phase, "probe", target) { RunId = run, SessionId = session, AgentId = "agent-1", RequestDigest = "sha256:" + new string('a', 64) };

    /// <summary>Appends <paramref name="count"/> records to <paramref name="run"/> and closes the ledger (final checkpoint written).</summary>
    public async Task<List<LedgerRecord>> FillAsync(string run, int count, Ed25519PrivateKey? key = null)
    {
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = Open(key);
        for (int i = 0; i < count; i++)
        {
            records.Add((await ledger.AppendAsync(Event(run, i % 2 == 0 ? ActionPhase.Started : ActionPhase.Completed))).Value);
        }

        return records;
    }

    public string RecordFile(string bucket) => Paths.RecordFile(BucketName.FileStem(bucket));

    public string CheckpointFile(string bucket) => Paths.CheckpointFile(BucketName.FileStem(bucket));

    public List<string> Lines(string bucket) => File.ReadAllLines(RecordFile(bucket)).ToList();

    public void WriteLines(string bucket, IEnumerable<string> lines) =>
        File.WriteAllText(RecordFile(bucket), string.Concat(lines.Select(l => l + "\n")));

    public VerifyReport Verify(string? bucket = null, string? pinned = null) =>
        LedgerVerifier.Verify(Root, bucket, pinned).Value;

    public void Dispose()
    {
        Key.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
