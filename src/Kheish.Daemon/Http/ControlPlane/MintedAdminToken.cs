using System.Security.Cryptography;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// <c>auto</c> mode on loopback without a configured token: the control plane is still never
/// open. A 256-bit admin token is minted once into <c>control-plane-auth/admin.token</c> (0600)
/// and reused on later starts; the online CLI reads it from the state root, so only processes
/// that can read the state root (the operator's own) can administer the daemon.
/// </summary>
internal static class MintedAdminToken
{
    public static Result<string> EnsureFile(StateRoot root)
    {
        string path = root.ControlPlaneAdminTokenFile;
        try
        {
            PrivateDirectory.Ensure(Path.GetDirectoryName(path)!);
            if (File.Exists(path))
            {
                string existing = File.ReadAllText(path).Trim();
                if (existing.Length >= BearerTokenSource.MinimumLength)
                {
                    // A file we wrote is 0600; tighten one a restore or copy widened.
                    File.SetUnixFileMode(path, AtomicFile.PrivateFileMode);
                    return path;
                }
            }

            string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            AtomicFile.WriteText(path, token + "\n");
            return path;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("admin_token_unwritable",
                $"cannot create the minted admin token file {path} ({IoReason.Of(ex)}); fix the state root's permissions or configure --http-admin-token-file");
        }
    }
}
