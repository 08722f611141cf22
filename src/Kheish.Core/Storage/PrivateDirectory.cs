namespace Kheish.Core.Storage;

/// <summary>Directories under the state root are 0700: nobody else may list or enter them.</summary>
internal static class PrivateDirectory
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Ensure(string path)
    {
        if (!Directory.Exists(path))
        {
            string? parent = Path.GetDirectoryName(Path.GetFullPath(path));
            if (parent is not null && !Directory.Exists(parent))
            {
                Directory.CreateDirectory(parent);
            }

            Directory.CreateDirectory(path, Mode);
        }

        // An existing directory with group/other bits is tightened: state must never be world-readable.
        UnixFileMode current = File.GetUnixFileMode(path);
        if ((current & ~Mode) != 0)
        {
            File.SetUnixFileMode(path, current & Mode);
        }
    }
}
