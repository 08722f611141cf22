using System.Globalization;
using System.Net;
using System.Text;

namespace Kheish.Core.Transparency;

/// <summary>The outcome of one push: the verified cosignature line, or why there is none; and the size the witness now holds.</summary>
internal sealed record WitnessPush(string? CosignatureLine, long WitnessSize, string? Failure)
{
    public WitnessPushFailure Kind { get; init; }
}

/// <summary>Why a push brought back no cosignature (for status counters; the text is in <see cref="WitnessPush.Failure"/>).</summary>
internal enum WitnessPushFailure
{
    None,
    Refused,
    BadCosignature,
    Rollback,
}

/// <summary>
/// The log side of C2SP tlog-witness: sends a checkpoint with a consistency proof from the size the
/// witness is believed to hold; on 409 with <c>text/x.tlog.size</c> it retries once from the size the
/// witness names. A 200 answer counts only when it carries a cosignature by the pinned witness key
/// over this checkpoint (under <paramref name="witnessName"/>, or any name when it is null).
/// <see cref="WitnessPusher"/> drives it for <c>serve --witness</c>.
/// </summary>
internal sealed class WitnessClient(HttpClient http, Uri addCheckpoint, string? witnessName, byte[] witnessKey)
{
    public async Task<WitnessPush> PushAsync(string checkpointNote, Func<long, long, List<byte[]>> proof, long believedSize, CancellationToken ct)
    {
        var parsed = SignedNote.TryParse(Encoding.UTF8.GetBytes(checkpointNote), out string? noteError);
        if (parsed is not { } note || Checkpoint.TryParse(note.Text, out _) is not { } checkpoint)
        {
            return new WitnessPush(null, believedSize, $"not a checkpoint note: {noteError}");
        }

        long old = believedSize;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (old > checkpoint.Size)
            {
                return new WitnessPush(null, old, $"the witness holds size {old}, larger than this checkpoint's {checkpoint.Size}: the log was rolled back or forked") { Kind = WitnessPushFailure.Rollback };
            }

            string body = Witness.Request(old, old == 0 ? [] : proof(old, checkpoint.Size), checkpointNote);
            using var content = new StringContent(body, Encoding.UTF8);
            using HttpResponseMessage response = await http.PostAsync(addCheckpoint, content, ct);
            string answer = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var signed = SignedNote.TryParse(Encoding.UTF8.GetBytes(note.Text + "\n" + answer), out _);
                return signed is { } s && Cosignature.FindValid(note.Text, s.Signatures, witnessName, witnessKey) is { } valid
                    ? new WitnessPush(Cosignature.LineOf(valid), checkpoint.Size, null)
                    : new WitnessPush(null, old, "the witness answered 200 without a cosignature by its pinned key over this checkpoint") { Kind = WitnessPushFailure.BadCosignature };
            }

            if (response.StatusCode == HttpStatusCode.Conflict
                && response.Content.Headers.ContentType?.MediaType == "text/x.tlog.size"
                && long.TryParse(answer.TrimEnd('\n'), NumberStyles.None, CultureInfo.InvariantCulture, out long named)
                && named != old)
            {
                old = named;
                continue;
            }

            return new WitnessPush(null, old, $"the witness refused: HTTP {(int)response.StatusCode}: {Printable(answer.TrimEnd('\n'))}") { Kind = WitnessPushFailure.Refused };
        }

        return new WitnessPush(null, old, "the witness kept naming another size") { Kind = WitnessPushFailure.Refused };
    }

    /// <summary>A witness's answer as it may appear in status and logs: one line, printable ASCII, at most 300 characters.</summary>
    private static string Printable(string answer)
    {
        string line = new([.. answer.Take(300).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return answer.Length > 300 ? line + "..." : line;
    }
}
