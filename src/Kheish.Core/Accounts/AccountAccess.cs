namespace Kheish.Core.Accounts;

/// <summary>What a route needs to call the provider as the account. <see cref="ToString"/> hides the token.</summary>
internal sealed record AccountAccess(AccountKind Kind, string AccessToken, string? AccountId)
{
    public override string ToString() => $"AccountAccess {{ Kind = {Kind}, AccountId = {AccountId}, AccessToken = <redacted> }}";
}

/// <summary>One refresh attempt, for the daemon's log: slot id, trigger and redacted reason only.</summary>
internal sealed record AccountRefreshEvent(string SlotId, string Trigger, bool Success, string? Reason);
