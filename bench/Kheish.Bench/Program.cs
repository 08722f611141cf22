using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kheish.Bench;
using Kheish.Core.Toml;

// Usage: Kheish.Bench toml <document-out-path> [seconds]
// Writes the generated document (so another parser can read the same bytes) and prints
// "ours_mb_per_s=<n> ours_alloc_bytes_per_parse=<n> bytes=<n>" after timed parses.
if (args.Length < 2 || args[0] != "toml")
{
    Console.Error.WriteLine("usage: Kheish.Bench toml <document-out-path> [seconds]");
    return 2;
}

string document = TomlDocumentGenerator.Generate(1 << 20);
byte[] utf8 = Encoding.UTF8.GetBytes(document);
File.WriteAllBytes(args[1], utf8);
double seconds = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 5;

// The same entry point a caller with bytes uses: UTF-8 validation and decoding included.
static TomlTable ParseOnce(byte[] bytes) =>
    TomlReader.TryParse(bytes, out TomlTable? table, out TomlError? error) ? table : throw new InvalidOperationException(error.ToString());

// Warm up (tiered JIT) before measuring.
var warm = Stopwatch.StartNew();
while (warm.Elapsed.TotalSeconds < Math.Min(2, seconds / 2))
{
    ParseOnce(utf8);
}

GC.Collect();
long allocBefore = GC.GetAllocatedBytesForCurrentThread();
ParseOnce(utf8);
long allocPerParse = GC.GetAllocatedBytesForCurrentThread() - allocBefore;

int iterations = 0;
var sw = Stopwatch.StartNew();
while (sw.Elapsed.TotalSeconds < seconds)
{
    ParseOnce(utf8);
    iterations++;
}

double mbPerSecond = utf8.Length * (double)iterations / sw.Elapsed.TotalSeconds / 1e6;
Console.WriteLine(string.Create(
    CultureInfo.InvariantCulture,
    $"ours_mb_per_s={mbPerSecond:F1} ours_alloc_bytes_per_parse={allocPerParse} bytes={utf8.Length} iterations={iterations}"));
return 0;
