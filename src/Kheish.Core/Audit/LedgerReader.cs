using Kheish.Core.Errors;

namespace Kheish.Core.Audit;

/// <summary>Reads records for listing. Safe while a daemon appends: only complete lines are read.</summary>
internal static class LedgerReader
{
    public static Result<IReadOnlyList<LedgerRecord>> ReadBucket(LedgerPaths paths, string bucket)
    {
        string path = paths.RecordFile(BucketName.FileStem(bucket));
        if (!File.Exists(path))
        {
            return KheishError.NotFound("run_not_found", $"no external actions recorded for '{LedgerChecks.Printable(bucket)}'");
        }

        var records = new List<LedgerRecord>();
        try
        {
            using RecordFileReader reader = RecordFileReader.Open(path);
            while (reader.ReadLine() is { } line)
            {
                if (!LedgerChecks.TryParseRecord(line, out LedgerRecord? record, out VerifyFailure? failure))
                {
                    return KheishError.Misconfigured(
                        "ledger_damaged",
                        $"record {records.Count + 1} of '{LedgerChecks.Printable(bucket)}' is damaged ({failure!.Reason}); run 'kheish-daemon runs verify'");
                }

                records.Add(record!);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return KheishError.Unavailable(ExternalActionLedger.UnavailableCode, $"cannot read {path} ({Kheish.Core.Errors.IoReason.Of(ex)})");
        }

        return records;
    }
}
