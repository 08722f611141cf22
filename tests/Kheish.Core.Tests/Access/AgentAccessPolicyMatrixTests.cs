using System.Net;
using Kheish.Core.Access;
using static Kheish.Core.Tests.Access.AccessFixtures;

namespace Kheish.Core.Tests.Access;

/// <summary>Issue 7's full matrix: mode × presented key × where the request comes from.</summary>
public sealed class AgentAccessPolicyMatrixTests
{
    private static readonly string ValidKey = ApiKeys.Generate();
    private static readonly string RevokedKey = ApiKeys.Generate();

    public static IEnumerable<(string, string, string, int)> Matrix()
    {
        var data = new List<(string, string, string, int)>();
        foreach (string mode in new[] { "strict", "relaxed", "lax" })
        {
            foreach (string key in new[] { "none", "valid", "invalid", "revoked" })
            {
                foreach (string ip in new[] { "allowed", "not_allowed", "spoofed_xff_from_untrusted_peer", "forwarded_by_trusted_proxy" })
                {
                    data.Add((mode, key, ip, Expected(mode, key, ip)));
                }
            }
        }

        return data;
    }

    [Test]
    [MethodDataSource(nameof(Matrix))]
    public async Task Decision_status_matches_the_matrix(string mode, string key, string ip, int expectedStatus)
    {
        await Assert.That(SecurityModes.TryParse(mode, out SecurityMode parsed)).IsTrue();
        SecurityConfigSnapshot snapshot = Snapshot(Config(parsed));
        (IPAddress socket, string? xff) = ip switch
        {
            "allowed" => (Ip("127.0.0.1"), (string?)null),
            "not_allowed" => (Ip("203.0.113.9"), null),
            "spoofed_xff_from_untrusted_peer" => (Ip("203.0.113.9"), "127.0.0.1"),
            "forwarded_by_trusted_proxy" => (Ip("10.9.0.1"), "127.0.0.1, 10.1.2.3"),
            _ => throw new ArgumentOutOfRangeException(nameof(ip)),
        };
        string? presented = key switch
        {
            "none" => null,
            "valid" => ValidKey,
            "invalid" => "kheish_" + new string('0', 64),
            "revoked" => RevokedKey,
            _ => throw new ArgumentOutOfRangeException(nameof(key)),
        };

        AgentAccessDecision decision = AgentAccessPolicy.Evaluate(snapshot, socket, xff, presented, null);

        int status = decision is AgentAccessDenied denied ? denied.Status : 200;
        await Assert.That(status).IsEqualTo(expectedStatus);
        if (decision is AgentAccessAllowed allowed)
        {
            await Assert.That(allowed.Principal).IsEqualTo(key == "valid" ? "agent:matrix" : AgentAccessAllowed.AnonymousPrincipal);
        }
        else if (expectedStatus == 401)
        {
            var d = (AgentAccessDenied)decision;
            await Assert.That(d.Error.Code).IsEqualTo(key == "none" ? "missing_api_key" : "invalid_api_key");
            await Assert.That(d.WwwAuthenticate).StartsWith("Bearer realm=");
        }
        else
        {
            await Assert.That(((AgentAccessDenied)decision).Error.Code).IsEqualTo("ip_not_allowed");
            await Assert.That(((AgentAccessDenied)decision).Error.Message).Contains("203.0.113.9");
        }
    }

    private static int Expected(string mode, string key, string ip)
    {
        if (ip is "not_allowed" or "spoofed_xff_from_untrusted_peer")
        {
            return 403;
        }

        return (mode, key) switch
        {
            ("lax", _) => 200,
            (_, "valid") => 200,
            ("relaxed", "none") => 200,
            _ => 401,
        };
    }

    private static SecurityConfig Config(SecurityMode mode)
    {
        ApiKeyEntry valid = Entry(ValidKey, "agent:matrix");
        ApiKeyEntry revoked = Entry(RevokedKey);
        var withBoth = new SecurityConfig(mode, [valid, revoked], Rules("127.0.0.1", "10.1.0.0/16"), Rules("10.9.0.1"), null);
        return withBoth.WithoutKey(revoked.Id);
    }
}
