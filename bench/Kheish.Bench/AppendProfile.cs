using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;

namespace Kheish.Bench;

/// <summary>
/// Where the microseconds of one durable append go: each stage of the append path timed alone,
/// one thread, in the same process, next to a whole single-producer append (issue 16). Stages are
/// CPU microseconds per operation; the fdatasync stage is CPU too (its wall time is the disk's).
/// </summary>
internal static class AppendProfile
{
    public static async Task<int> RunAsync(string dir, TimeSpan perStage)
    {
        Directory.CreateDirectory(dir);
        using var key = Ed25519PrivateKey.Generate();
        byte[] keyId = System.Text.Encoding.UTF8.GetBytes(key.PublicKeyHex);
        ExternalActionEvent ev = LedgerBench.Event("profile", 0);
        var lines = new CanonicalBuffer(64 * 1024);
        byte[] digest = new byte[32];
        byte[] signature = new byte[Ed25519.SignatureSize];
        string prev = new('a', 64);

        var stages = new List<(string Name, double Micros)>
        {
            ("encode+hash (canonical line built once, SHA-256 over it in place)", Time(perStage, () =>
            {
                lines.Clear();
                _ = LedgerEncoding.AppendRecordLine(lines, ev, "started", 1_700_000_000_000, prev, keyId, digest);
            })),
            ("ed25519 sign (32-byte digest)", Time(perStage, () => key.Sign(digest, signature))),
            ("receipt (LedgerRecord + hash/signature hex strings)", Time(perStage, () =>
            {
                var r = new LedgerRecord
                {
                    ActionId = Convert.ToHexStringLower(digest),
                    TimestampMs = 1,
                    Phase = "started",
                    Kind = ev.Kind,
                    Target = ev.Target,
                    RecordHash = Convert.ToHexStringLower(digest),
                    SignatureAlg = "ed25519",
                    KeyId = key.PublicKeyHex,
                    Signature = Convert.ToHexStringLower(signature),
                };
                GC.KeepAlive(r);
            })),
            ("record-object path: HashInput + SHA-256 + RecordLine (what the verifier re-encodes; the append path before issue 16)", Time(perStage, () =>
            {
                LedgerRecord r = Sample(key.PublicKeyHex);
                _ = SHA256.HashData(LedgerEncoding.HashInput(r));
                _ = LedgerEncoding.RecordLine(r);
            })),
        };

        string path = Path.Combine(dir, "profile.jsonl");
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1))
        {
            long offset = 0;
            int len = lines.Length;
            stages.Add(("pwrite of one line (page cache)", Time(perStage, () =>
            {
                RandomAccess.Write(file.SafeFileHandle, lines.Written, offset);
                offset += len;
            })));
            stages.Add(("pwrite + fdatasync of one line", Time(perStage, () =>
            {
                RandomAccess.Write(file.SafeFileHandle, lines.Written, offset);
                offset += len;
                AuditNative.DataSync(file.SafeFileHandle);
            })));
        }

        var root = new Kheish.Core.Storage.StateRoot(Path.Combine(dir, "state"));
        await using (ExternalActionLedger ledger = ExternalActionLedger.Open(root, key).Value)
        {
            for (int i = 0; i < 50; i++)
            {
                _ = (await ledger.AppendAsync(ev).ConfigureAwait(false)).Value;
            }

            long n = 0;
            TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < perStage)
            {
                _ = (await ledger.AppendAsync(ev).ConfigureAwait(false)).Value;
                n++;
            }

            double wall = sw.Elapsed.TotalMicroseconds / n;
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / n;
            stages.Add(("whole append, 1 producer (wall)", wall));
            stages.Add(("whole append, 1 producer (process cpu)", cpu));
        }

        Console.WriteLine("append_profile stage us_per_op");
        foreach ((string name, double micros) in stages)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {micros,9:F1} us  {name}"));
        }

        return 0;
    }

    private static double Time(TimeSpan duration, Action op)
    {
        // Long enough for tiered JIT to reach optimized code.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromMilliseconds(300))
        {
            op();
        }

        // Process CPU time, not wall clock: on a loaded machine the wall clock counts the time
        // this thread waited for a core. The bench runs one thread, so this is this stage's CPU.
        long n = 0;
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            op();
            n++;
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / n;
    }

    private static LedgerRecord Sample(string keyId) => new()
    {
        ActionId = new string('b', 64),
        TimestampMs = 1_700_000_000_000,
        SessionId = "session-bench",
        AgentId = "agent-0",
        RunId = "profile",
        ToolCallId = "call_0123456789",
        PrincipalId = "apikey:bench",
        GrantId = "grant-0123456789",
        Phase = "started",
        Kind = "provider_request",
        Target = "https://api.openai.com/v1/chat/completions",
        RequestDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        PrevHash = new string('a', 64),
        RecordHash = new string('b', 64),
        SignatureAlg = "ed25519",
        KeyId = keyId,
        Signature = new string('c', 128),
    };
}
