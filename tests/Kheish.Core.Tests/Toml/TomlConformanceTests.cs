using System.Globalization;
using System.Text.Json;
using Kheish.Core.Toml;

namespace Kheish.Core.Tests.Toml;

/// <summary>
/// Runs toml-test's TOML 1.0.0 file list: every valid case must decode to the expected
/// type-tagged JSON (compared by meaning, as toml-test does), every invalid case must be rejected.
/// </summary>
public sealed class TomlConformanceTests()
{
    [Test]
    public async Task Every_toml_test_case_of_the_1_0_0_list_is_decoded_or_rejected_as_expected()
    {
        string? dir = ConformanceData.Directory("toml-test");
        if (dir is null)
        {
            Skip.Test($"toml-test data not found under {ConformanceData.Root} (set KHEISH_CONFORMANCE_DIR)");
        }

        string listFile = File.Exists(Path.Combine(dir, "files-toml-1.0.0"))
            ? Path.Combine(dir, "files-toml-1.0.0")
            : Path.Combine(dir, "tests", "files-toml-1.0.0");
        string[] cases = File.ReadAllLines(listFile).Where(l => l.EndsWith(".toml", StringComparison.Ordinal)).ToArray();

        var misses = new List<string>();
        int valid = 0, validPassed = 0, invalid = 0, invalidPassed = 0;
        foreach (string name in cases)
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(dir, "tests", name));
            bool accepted = TomlReader.TryParse(bytes, out TomlTable? table, out TomlError? error);
            if (name.StartsWith("valid/", StringComparison.Ordinal))
            {
                valid++;
                if (!accepted)
                {
                    misses.Add($"{name}: rejected ({error})");
                    continue;
                }

                string expectedPath = Path.Combine(dir, "tests", Path.ChangeExtension(name, ".json"));
                using JsonDocument expected = JsonDocument.Parse(File.ReadAllBytes(expectedPath));
                using JsonDocument actual = JsonDocument.Parse(TomlTaggedJson.ToJson(table!));
                string? diff = TaggedJson.Difference(expected.RootElement, actual.RootElement, "$");
                if (diff is null)
                {
                    validPassed++;
                }
                else
                {
                    misses.Add($"{name}: {diff}");
                }
            }
            else
            {
                invalid++;
                if (accepted)
                {
                    misses.Add($"{name}: accepted");
                }
                else
                {
                    invalidPassed++;
                }
            }
        }

        string summary = $"valid: {validPassed}/{valid}, invalid: {invalidPassed}/{invalid}";
        Console.WriteLine(summary);
        Console.Error.WriteLine("toml-test " + summary);
        foreach (string miss in misses)
        {
            Console.WriteLine(miss);
        }

        await Assert.That(valid > 0 && invalid > 0).IsTrue().Because("the toml-test file list named no cases");
        await Assert.That(misses.Count == 0).IsTrue();
    }
}

/// <summary>Where conformance data lives: $KHEISH_CONFORMANCE_DIR, else ../shared/conformance beside the repository.</summary>
internal static class ConformanceData
{
    public static string Root { get; } = Environment.GetEnvironmentVariable("KHEISH_CONFORMANCE_DIR") is { Length: > 0 } env
        ? env
        : Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "conformance"));

    public static string? Directory(string name)
    {
        string path = Path.Combine(Root, name);
        return System.IO.Directory.Exists(Path.Combine(path, "tests")) ? path : null;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kheish.sln")))
            {
                return dir.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}

/// <summary>toml-test's comparison: structure exactly, scalars by type and by meaning.</summary>
internal static class TaggedJson
{
    public static string? Difference(JsonElement want, JsonElement have, string path)
    {
        if (IsTagged(want))
        {
            if (!IsTagged(have))
            {
                return $"{path}: expected a tagged value, got {have.ValueKind}";
            }

            string wantType = want.GetProperty("type").GetString()!;
            string haveType = have.GetProperty("type").GetString()!;
            string wantValue = want.GetProperty("value").GetString()!;
            string haveValue = have.GetProperty("value").GetString()!;
            if (wantType != haveType)
            {
                return $"{path}: expected type {wantType}, got {haveType}";
            }

            return SameScalar(wantType, wantValue, haveValue) ? null : $"{path}: expected {wantType} {wantValue}, got {haveValue}";
        }

        if (want.ValueKind != have.ValueKind)
        {
            return $"{path}: expected {want.ValueKind}, got {have.ValueKind}";
        }

        if (want.ValueKind == JsonValueKind.Array)
        {
            if (want.GetArrayLength() != have.GetArrayLength())
            {
                return $"{path}: expected {want.GetArrayLength()} elements, got {have.GetArrayLength()}";
            }

            for (int i = 0; i < want.GetArrayLength(); i++)
            {
                if (Difference(want[i], have[i], $"{path}[{i}]") is { } d)
                {
                    return d;
                }
            }

            return null;
        }

        if (want.ValueKind == JsonValueKind.Object)
        {
            var wantKeys = want.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
            var haveKeys = have.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
            if (!wantKeys.SequenceEqual(haveKeys))
            {
                return $"{path}: expected keys [{string.Join(", ", wantKeys)}], got [{string.Join(", ", haveKeys)}]";
            }

            foreach (string key in wantKeys)
            {
                if (Difference(want.GetProperty(key), have.GetProperty(key), $"{path}.{key}") is { } d)
                {
                    return d;
                }
            }

            return null;
        }

        return $"{path}: unexpected JSON {want.ValueKind}";
    }

    private static bool IsTagged(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object
        && e.EnumerateObject().Count() == 2
        && e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String
        && e.TryGetProperty("value", out JsonElement v) && v.ValueKind == JsonValueKind.String;

    private static bool SameScalar(string type, string want, string have)
    {
        switch (type)
        {
            case "float":
                double w = ParseFloat(want), h = ParseFloat(have);
                return (double.IsNaN(w) && double.IsNaN(h)) || w.Equals(h) || w == h;
            case "integer":
                return long.Parse(want, CultureInfo.InvariantCulture) == long.Parse(have, CultureInfo.InvariantCulture);
            case "datetime":
                return DateTimeOffset.Parse(NormalizeDateTime(want), CultureInfo.InvariantCulture)
                    == DateTimeOffset.Parse(NormalizeDateTime(have), CultureInfo.InvariantCulture);
            case "datetime-local":
                return DateTime.Parse(NormalizeDateTime(want), CultureInfo.InvariantCulture)
                    == DateTime.Parse(NormalizeDateTime(have), CultureInfo.InvariantCulture);
            case "date-local":
                return DateOnly.ParseExact(want, "yyyy-MM-dd", CultureInfo.InvariantCulture)
                    == DateOnly.ParseExact(have, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            case "time-local":
                return TimeOnly.Parse(want, CultureInfo.InvariantCulture) == TimeOnly.Parse(have, CultureInfo.InvariantCulture);
            default:
                return string.Equals(want, have, StringComparison.Ordinal);
        }
    }

    private static string NormalizeDateTime(string s) =>
        s.Replace(' ', 'T').Replace('t', 'T').Replace('z', 'Z');

    private static double ParseFloat(string s) => s switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        "nan" or "+nan" or "-nan" => double.NaN,
        _ => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
