using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>Where the transparency log lives: <c>&lt;state_root&gt;/external-action-log/</c>.</summary>
internal sealed class LogPaths(StateRoot root)
{
    public string Directory { get; } = Path.Combine(root.FullPath, "external-action-log");

    /// <summary>The latest signed checkpoint (C2SP tlog-checkpoint note).</summary>
    public string CheckpointFile => Path.Combine(Directory, "checkpoint");

    /// <summary>
    /// The sequence: one 64-byte entry per leaf, in log order: the RFC 6962 leaf hash of the record
    /// line, then the record's action id (32 bytes). Appended by the log, fsynced before every checkpoint.
    /// </summary>
    public string LeavesFile => Path.Combine(Directory, "leaves");

    /// <summary>
    /// Written at a clean close (the size of the last checkpoint, which then covers every record
    /// of every bucket) and removed at open: while it matches, the next open starts from the
    /// checkpoint and tiles without reading the buckets or the leaves.
    /// </summary>
    public string ClosedFile => Path.Combine(Directory, "closed");

    /// <summary>C2SP tlog-tiles hash tiles: <c>tile/&lt;L&gt;/&lt;N&gt;[.p/&lt;W&gt;]</c>.</summary>
    public string TilesDirectory => Path.Combine(Directory, "tile");
}
