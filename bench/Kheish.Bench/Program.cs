using System.Globalization;
using Kheish.Bench;

// Benchmarks, not tests: print numbers for scripts/bench/ledger.sh.
//   Kheish.Bench fsync|fdatasync <dir> <seconds>      raw write(600 B)+sync loop, one thread
//   Kheish.Bench append <state_root> <producers> <seconds>   durable ledger appends
//   Kheish.Bench ed25519 <seconds>                   our OpenSSL binding, one thread: sign/s, verify/s
//   Kheish.Bench paired <dir> <seconds>              fsync loop, fdatasync loop, single-producer appends, interleaved
return args switch
{
    ["fsync", string dir, string seconds] => LedgerBench.FsyncLoop(dir, Seconds(seconds), dataOnly: false),
    ["fdatasync", string dir, string seconds] => LedgerBench.FsyncLoop(dir, Seconds(seconds), dataOnly: true),
    ["ed25519", string seconds] => CryptoBench.Run(Seconds(seconds)),
    ["paired", string dir, string seconds] => await LedgerBench.PairedAsync(dir, Seconds(seconds)),
    ["append", string root, string producers, string seconds] =>
        await LedgerBench.AppendAsync(root, int.Parse(producers, CultureInfo.InvariantCulture), Seconds(seconds)),
    _ => Usage(),
};

static TimeSpan Seconds(string s) => TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture));

static int Usage()
{
    Console.Error.WriteLine("usage: Kheish.Bench fsync|fdatasync <dir> <seconds> | ed25519 <seconds> | append <state_root> <producers> <seconds>");
    return 2;
}
