using System.Buffers.Binary;
using System.Text.Json;

namespace Kheish.Core.Transparency;

/// <summary>An action id (a record's SHA-256 record hash) as a dictionary key without allocation.</summary>
internal readonly record struct ActionKey(ulong A, ulong B, ulong C, ulong D)
{
    public static ActionKey From(ReadOnlySpan<byte> hash) => new(
        BinaryPrimitives.ReadUInt64BigEndian(hash),
        BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(hash[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(hash[24..]));

    public static ActionKey? TryParseHex(string actionId)
    {
        if (actionId.Length != 64 || !actionId.All(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)))
        {
            return null;
        }

        return From(Convert.FromHexString(actionId));
    }
}

/// <summary>A ledger record as the log sees it: where it is, its leaf hash, its action id and time.</summary>
internal sealed record LogEntry(string Stem, long Line, byte[] LeafHash, byte[] ActionId, long TimestampMs)
{
    /// <summary>Reads <c>record_hash</c> and <c>timestamp_ms</c> from a record line (top-level fields only).</summary>
    public static bool TryReadFields(ReadOnlySpan<byte> line, out byte[] actionId, out long timestampMs)
    {
        actionId = [];
        timestampMs = 0;
        bool haveHash = false;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("record_hash"u8))
                {
                    reader.Read();
                    string? hex = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    if (hex is not { Length: 64 })
                    {
                        return false;
                    }

                    actionId = Convert.FromHexString(hex);
                    haveHash = true;
                }
                else if (reader.ValueTextEquals("timestamp_ms"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number)
                    {
                        timestampMs = reader.GetInt64();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            return false;
        }

        return haveHash;
    }
}
