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

    [Fact]
    public async Task A_refresh_saves_the_new_pair_before_handing_out_the_access_token()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        using AccountManager manager = Manager(endpoint);

        Result<AccountAccess> access = await manager.GetAccessAsync(Slot, CancellationToken.None);

        Assert.True(access.IsOk);
        Assert.Equal(Stored().AccessToken, access.Value.AccessToken);
        Assert.NotEqual("rt-old-123456", Stored().RefreshToken);
        Assert.Equal(["rt-old-123456"], endpoint.SentRefreshTokens);
        // What was handed out is already on disk: a fresh load of the file holds it.
        SlotStore reloaded = SlotStore.Load(new StateRoot(Path.Combine(_dir, "state")), _key).Value;
        Assert.Equal(access.Value.AccessToken, AccountState.FromSlot(reloaded.Get(Slot)!).Value.AccessToken);
    }

    [Fact]
    public async Task A_slot_reimported_while_its_refresh_was_in_flight_keeps_the_reimport()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        endpoint.OnRequest = () => _store.Set(Claude("at-operator-123456", "rt-operator-123456", DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeMilliseconds()).ToRecord(Slot));
        using AccountManager manager = Manager(endpoint);

        Result<AccountState> refreshed = await manager.ForceRefreshAsync(Slot, CancellationToken.None);

        Assert.False(refreshed.IsOk);
        Assert.Equal("rt-operator-123456", Stored().RefreshToken);
        Assert.Equal("at-operator-123456", Stored().AccessToken);
    }

    [Fact]
    public async Task A_revoked_slot_is_not_refreshed_and_a_rotation_raises_no_slot_change()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint();
        int changes = 0;
        _store.SlotChanged += _ => changes++;
        using (AccountManager revoked = Manager(endpoint, _ => KheishError.Forbidden("slot_revoked", "revoked")))
        {
            Result<AccountState> refused = await revoked.ForceRefreshAsync(Slot, CancellationToken.None);
            Assert.Equal("slot_revoked", refused.Error!.Code);
            Assert.Equal(0, endpoint.Requests);
        }

        using AccountManager manager = Manager(endpoint);
        Assert.True((await manager.ForceRefreshAsync(Slot, CancellationToken.None)).IsOk);
        Assert.Equal(1, endpoint.Requests);
        Assert.Equal(0, changes);
    }

    [Fact]
    public async Task Concurrent_calls_on_an_expired_token_share_one_refresh()
    {
        _store.Set(Claude("at-old-123456", "rt-old-123456", 1).ToRecord(Slot));
        var endpoint = new Endpoint { OnRequest = () => Thread.Sleep(300) };
        using AccountManager manager = Manager(endpoint);

        Result<AccountAccess>[] all = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => manager.GetAccessAsync(Slot, CancellationToken.None))));

        Assert.All(all, a => Assert.True(a.IsOk));
        Assert.Equal(1, endpoint.Requests);
        Assert.Single(all.Select(a => a.Value.AccessToken).Distinct());
    }
}
