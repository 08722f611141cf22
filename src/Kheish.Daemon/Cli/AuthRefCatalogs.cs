using System.CommandLine;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Cli.Secrets;

namespace Kheish.Daemon.Cli;

/// <summary>How CLI verbs learn which secret slots exist, online or --offline.</summary>
internal static class AuthRefCatalogs
{
    public static IAuthRefCatalog For(ParseResult parseResult)
    {
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            return Offline(CommonOptions.GetStateRoot(parseResult), Environment.GetEnvironmentVariable);
        }

        Result<Client.DaemonClient> client = CommonOptions.CreateClient(parseResult);
        if (!client.IsOk)
        {
            return new UnverifiableAuthRefCatalog(client.Error.Message, client.Error);
        }

        using Client.DaemonClient daemon = client.Value;
        Result<IReadOnlyList<SlotStatus>> slots = new OnlineSecretsBackend(daemon).ListAsync(CancellationToken.None).GetAwaiter().GetResult();
        return slots.IsOk
            ? new SlotStatusAuthRefCatalog(slots.Value)
            : new UnverifiableAuthRefCatalog(slots.Error.Message, slots.Error);
    }

    /// <summary>The slots file read directly (needs the master key when it is encrypted).</summary>
    public static IAuthRefCatalog Offline(StateRoot root, Func<string, string?> getEnv)
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(getEnv);
        if (!key.IsOk)
        {
            return new UnverifiableAuthRefCatalog(key.Error.Message);
        }

        Result<SlotStore> store = SlotStore.Load(root, key.Value);
        return store.IsOk
            ? new SlotStoreAuthRefCatalog(store.Value)
            : new UnverifiableAuthRefCatalog(store.Error.Message);
    }
}
