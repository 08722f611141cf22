using System.Diagnostics;
using System.Globalization;
using System.Net;
using Kheish.Core.Access;

// Measures AgentAccessPolicy.Evaluate per request with 1 and 1,000 keys configured: the
// lookup is by digest (dictionary), so the cost must not grow with the number of keys.
// Also measures SecurityConfigSource.Current(), the per-request stat of security.json.
double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1.0;
IPAddress client = IPAddress.Loopback;

var cases = new List<(string Name, Func<AgentAccessDecision> Op)>();
var cleanup = new List<string>();
foreach (int keyCount in new[] { 1, 1000 })
{
    string[] keys = [.. Enumerable.Range(0, keyCount).Select(_ => ApiKeys.Generate())];
    var entries = keys.Select((k, i) =>
    {
        KeyDigest d = ApiKeys.Digest(k);
        return new ApiKeyEntry { Id = ApiKeys.DeriveId(d), Digest = d, Principal = $"agent:{i}" };
    }).ToList();
    var allow = new IpAllowList([IpRule.Parse("127.0.0.1").Value, IpRule.Parse("::1").Value, IpRule.Parse("10.0.0.0/8").Value]);
    var config = new SecurityConfig(SecurityMode.Strict, entries, allow, IpAllowList.Empty, null);
    var snapshot = SecurityConfigSnapshot.Valid(SecurityConfigOrigin.Project, "bench", config);
    string valid = keys[keyCount / 2];
    string invalid = ApiKeys.Generate();

    cases.Add(($"Evaluate strict, valid X-API-Key, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, valid, null)));
    cases.Add(($"Evaluate strict, valid Bearer, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, null, "Bearer " + valid)));
    cases.Add(($"Evaluate strict, unknown key, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, invalid, null)));

    string dir = Path.Combine(Path.GetTempPath(), "kheish-agent-bench-" + Guid.NewGuid().ToString("N"));
    var location = SecurityConfigLocation.Resolve(dir, name => name == "XDG_CONFIG_HOME" ? Path.Combine(dir, "xdg") : null);
    SecurityConfigFile.Save(location.ProjectFile, config);
    var source = new SecurityConfigSource(location);
    cases.Add(($"Current() + Evaluate (stat per request), {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(source.Current(), client, null, valid, null)));
    cleanup.Add(dir);
}

// Rounds interleave the cases so machine noise hits 1 and 1,000 keys alike; best round wins.
double[] best = [.. cases.Select(_ => double.MaxValue)];
for (int round = 0; round < 3; round++)
{
    for (int c = 0; c < cases.Count; c++)
    {
        best[c] = Math.Min(best[c], Measure(cases[c].Name, cases[c].Op));
    }
}

Console.WriteLine($"agent-plane access decision, {seconds:0.0} s per case per round, best of 3 interleaved rounds");
Console.WriteLine($"{"case",-56} {"ns/op",8} {"ops/s",12}");
for (int c = 0; c < cases.Count; c++)
{
    Console.WriteLine($"{cases[c].Name,-56} {best[c],8:0} {1e9 / best[c],12:N0}");
}

foreach (string dir in cleanup)
{
    Directory.Delete(dir, recursive: true);
}

double Measure(string name, Func<AgentAccessDecision> op)
{
    if (op() is not AgentAccessAllowed && !name.Contains("unknown", StringComparison.Ordinal))
    {
        throw new InvalidOperationException(name + ": expected an allowed decision");
    }

    long n = 0;
    var sw = Stopwatch.StartNew();
    while (sw.Elapsed.TotalSeconds < seconds)
    {
        for (int i = 0; i < 1000; i++)
        {
            op();
        }

        n += 1000;
    }

    return sw.Elapsed.TotalNanoseconds / n;
}
