using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Core.Accounts;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Accounts;

/// <summary>The refresher against an in-memory token endpoint: saving before use, compare-and-swap, tombstones.</summary>
public sealed class AccountManagerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-accounts-").FullName;
    private readonly MasterKey _key = MasterKey.Generate();
    private readonly SlotStore _store;
    private static readonly SlotId Slot = SlotId.Parse("anthropic.claude").Value;

    public AccountManagerTests()
    {
        _store = SlotStore.Load(new StateRoot(Path.Combine(_dir, "state")), _key).Value;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Answers every refresh with fresh tokens; <see cref="OnRequest"/> runs while the request is in flight.</summary>
    private sealed class Endpoint : HttpMessageHandler
    {
        public int Requests;
        public Action? OnRequest;
        public List<string> SentRefreshTokens { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            using JsonDocument body = JsonDocument.Parse(await request.Content!.ReadAsStringAsync(cancellationToken));
            lock (SentRefreshTokens)
            {
                SentRefreshTokens.Add(body.RootElement.GetProperty("refresh_token").GetString()!);
            }

            OnRequest?.Invoke();
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent($"{{\"access_token\":\"at-{Guid.NewGuid():N}\",\"refresh_token\":\"rt-{Guid.NewGuid():N}\",\"expires_in\":3600}}", Encoding.UTF8, "application/json"),
            };
        }
    }

    private static AccountState Claude(string access, string refresh, long expiresAtMs) => new()
    {
        Kind = AccountKind.ClaudeCode,
        AccessToken = access,
        RefreshToken = refresh,
        ExpiresAtMs = expiresAtMs,
        Scopes = ["user:inference"],
        SourcePath = "/fixture",
    };

    private AccountManager Manager(Endpoint endpoint, Func<string, KheishError?>? revoked = null) => new(
        _store,
        new TokenRefreshClient(AccountTokenEndpoints.FromEnvironment(_ => null).Value, endpoint),
        revoked ?? (_ => null));

    private AccountState Stored() => AccountState.FromSlot(_store.Get(Slot)!).Value;

    [Test]
    public async Task A_refresh_saves_the_new_pair_before_handing_out_the_access_token()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        using AccountManager manager = Manager(endpoint);

        Result<AccountAccess> access = await manager.GetAccessAsync(Slot, CancellationToken.None);

        await Assert.That(access.IsOk).IsTrue();
        await Assert.That(access.Value.AccessToken).IsEqualTo(Stored().AccessToken);
        await Assert.That(Stored().RefreshToken).IsNotEqualTo("rt-old-123456");
        await Assert.That(endpoint.SentRefreshTokens).IsEquivalentTo(["rt-old-123456"], CollectionOrdering.Matching);
        // What was handed out is already on disk: a fresh load of the file holds it.
        SlotStore reloaded = SlotStore.Load(new StateRoot(Path.Combine(_dir, "state")), _key).Value;
        await Assert.That(AccountState.FromSlot(reloaded.Get(Slot)!).Value.AccessToken).IsEqualTo(access.Value.AccessToken);
    }

    [Test]
    public async Task A_slot_reimported_while_its_refresh_was_in_flight_keeps_the_reimport()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        endpoint.OnRequest = () => _store.Set(Claude("at-operator-123456", "rt-operator-123456", DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds()).ToRecord(Slot));
        using AccountManager manager = Manager(endpoint);

        Result<AccountState> refreshed = await manager.ForceRefreshAsync(Slot, CancellationToken.None);

        await Assert.That(refreshed.IsOk).IsFalse();
        await Assert.That(Stored().RefreshToken).IsEqualTo("rt-operator-123456");
        await Assert.That(Stored().AccessToken).IsEqualTo("at-operator-123456");
    }

    [Test]
    public async Task A_revoked_slot_is_not_refreshed_and_a_rotation_raises_no_slot_change()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        int changes = 0;
        _store.SlotChanged += _ => changes++;
        using (AccountManager revoked = Manager(endpoint, _ => KheishError.Forbidden("slot_revoked", "revoked")))
        {
            Result<AccountState> refused = await revoked.ForceRefreshAsync(Slot, CancellationToken.None);
            await Assert.That(refused.Error!.Code).IsEqualTo("slot_revoked");
            await Assert.That(endpoint.Requests).IsEqualTo(0);
        }

        using AccountManager manager = Manager(endpoint);
        await Assert.That((await manager.ForceRefreshAsync(Slot, CancellationToken.None)).IsOk).IsTrue();
        await Assert.That(endpoint.Requests).IsEqualTo(1);
        await Assert.That(changes).IsEqualTo(0);
    }

    [Test]
    public async Task Concurrent_calls_on_an_expired_token_share_one_refresh()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint { OnRequest = () => Thread.Sleep(300) };
        using AccountManager manager = Manager(endpoint);

        Result<AccountAccess>[] all = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => manager.GetAccessAsync(Slot, CancellationToken.None))));

        foreach (var a in all)
        {
            await Assert.That(a.IsOk).IsTrue();
        }
        await Assert.That(endpoint.Requests).IsEqualTo(1);
        await Assert.That(all.Select(a => a.Value.AccessToken).Distinct()).HasSingleItem();
    }
}
