using System.Globalization;
using System.Text;

namespace Kheish.Bench;

/// <summary>A deterministic TOML document of roughly the requested size mixing every common construct.</summary>
internal static class TomlDocumentGenerator
{
    public static string Generate(int targetBytes)
    {
        var sb = new StringBuilder(targetBytes + 4096);
        var inv = CultureInfo.InvariantCulture;
        sb.Append("# generated benchmark document\ntitle = \"kheish toml benchmark\"\nversion = 1\n\n");
        int i = 0;
        while (sb.Length < targetBytes)
        {
            sb.Append(inv, $"[server_{i}]\n");
            sb.Append(inv, $"name = \"server number {i} in the \\\"primary\\\" pool\"\n");
            sb.Append(inv, $"host = '10.{i % 256}.{i / 256 % 256}.1'\n");
            sb.Append(inv, $"port = {8000 + (i % 1000)}\n");
            sb.Append(inv, $"weight = {i % 97}.{i % 13}\n");
            sb.Append("enabled = ").Append(i % 3 == 0 ? "true" : "false").Append('\n');
            sb.Append(inv, $"created = 2024-{1 + (i % 12):D2}-{1 + (i % 28):D2}T{i % 24:D2}:{i % 60:D2}:00Z\n");
            sb.Append(inv, $"tags = [\"alpha\", \"beta\", \"gamma-{i % 7}\", \"delta\"]\n");
            sb.Append(inv, $"ports = [ {i % 100}, {i % 200}, {i % 300}, 0x{i:x}, 1_000 ]\n");
            sb.Append(inv, $"limits = {{ cpu = {1 + (i % 8)}, memory = \"{256 << (i % 4)}Mi\", burst = {(i % 2 == 0 ? "true" : "false")} }}\n");
            sb.Append(inv, $"owner.name = \"team {i % 17}\"\nowner.email = \"team{i % 17}@example.com\"\n");
            if (i % 4 == 0)
            {
                sb.Append("description = \"\"\"\nA longer multi-line description with some text,\n");
                sb.Append("escapes \\t and unicode \\u00e9, spanning lines.\"\"\"\n");
            }

            sb.Append(inv, $"\n[[server_{i}.replica]]\nid = {i * 2}\nzone = \"eu-{i % 3}\"\n");
            sb.Append(inv, $"[[server_{i}.replica]]\nid = {(i * 2) + 1}\nzone = \"us-{i % 5}\"\n\n");
            i++;
        }

        return sb.ToString();
    }
}
