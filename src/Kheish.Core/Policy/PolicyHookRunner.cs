using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Core.Mcp;

namespace Kheish.Core.Policy;

/// <summary>What a policy hook is told about one tool call (its stdin, as JSON).</summary>
internal sealed record PolicyHookCall(
    string Hook,
    string Server,
    string Tool,
    string ArgsDigest,
    IEnumerable<KeyValuePair<string, JsonElement>>? Arguments,
    string PrincipalId)
{
    public string? ParentPrincipalId { get; init; }
    public string? RunId { get; init; }
    public string? SessionId { get; init; }
    public string? AgentId { get; init; }
    public string? ToolCallId { get; init; }
}

/// <summary>
/// A hook's answer: <see cref="Decision"/> is what it said when it said exactly <c>allow</c>,
/// <c>deny</c> or <c>approve</c>, else <see cref="ToolDecision.Deny"/> with <see cref="Failed"/>
/// set. <see cref="Outcome"/> is the ledger's word for it (<c>allow</c>, <c>hook_timeout</c>, ...),
/// <see cref="Detail"/> what the agent's error says.
/// </summary>
internal sealed record PolicyHookVerdict(ToolDecision Decision, string Outcome, string Detail, bool Failed);

/// <summary>
/// Runs a policy hook, fail closed. The hook starts through the daemon's child shim (its own
/// process group, SIGKILL when the daemon dies), with a cleared environment holding only PATH and
/// LANG, and the call as one JSON object on stdin. It must exit 0 within its timeout having printed
/// exactly one word — <c>allow</c>, <c>deny</c> or <c>approve</c> (surrounding whitespace ignored) —
/// and at most <see cref="MaxOutputBytes"/> bytes. Anything else denies: a start failure, a
/// non-zero exit, a timeout, a longer or different answer. Whatever happens, its whole process
/// group is killed before the verdict is returned, so nothing it started outlives the call.
/// Its stderr is drained and dropped (never logged: it may echo the arguments).
/// </summary>
internal static class PolicyHookRunner
{
    public const int MaxOutputBytes = 4096;

    /// <summary>The only variables a hook gets from the daemon's environment (values, never credentials).</summary>
    public static readonly IReadOnlyList<string> PassThroughEnv = ["PATH", "LANG"];

    public static async Task<PolicyHookVerdict> RunAsync(PolicyHook hook, PolicyHookCall call, string shimPath, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(hook.Timeout);
        int ms = (int)hook.Timeout.TotalMilliseconds;
        Process process;
        try
        {
            process = await ChildSpawner.Shared.StartAsync(StartInfo(hook, shimPath, Environment.GetEnvironmentVariable)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Any start failure denies the call.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Denied("hook_start_failed", $"could not be started ({ex.GetType().Name})");
        }

        int pid = SafePid(process);
        try
        {
            Task<byte[]?> stdout = ReadCappedAsync(process.StandardOutput.BaseStream, deadline.Token);
            Task stderr = DrainAsync(process.StandardError.BaseStream, deadline.Token);
            try
            {
                await process.StandardInput.BaseStream.WriteAsync(Input(call), deadline.Token).ConfigureAwait(false);
                await process.StandardInput.BaseStream.FlushAsync(deadline.Token).ConfigureAwait(false);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The hook does not read its input (or exited): its answer still decides.
            }

            byte[]? output = await stdout.ConfigureAwait(false);
            if (output is null)
            {
                return Denied("hook_output_too_large", $"printed more than {MaxOutputBytes} bytes");
            }

            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            await stderr.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                return Denied("hook_exit_" + process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture), $"exited with code {process.ExitCode}");
            }

            string answer;
            try
            {
                answer = new UTF8Encoding(false, true).GetString(output).Trim();
            }
            catch (DecoderFallbackException)
            {
                return Denied("hook_invalid_answer", "answered something other than allow, deny or approve");
            }

            return answer switch
            {
                "allow" => new PolicyHookVerdict(ToolDecision.Allow, "allow", "answered allow", false),
                "deny" => new PolicyHookVerdict(ToolDecision.Deny, "deny", "answered deny", false),
                "approve" => new PolicyHookVerdict(ToolDecision.Approve, "approve", "answered approve", false),
                _ => Denied("hook_invalid_answer", "answered something other than allow, deny or approve"),
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Denied("hook_timeout", $"gave no answer within {ms} ms (timeout_ms) and was killed");
        }
        catch (OperationCanceledException)
        {
            return Denied("hook_cancelled", "was stopped: the caller went away");
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            return Denied("hook_failed", $"failed ({ex.GetType().Name})");
        }
        finally
        {
            // The group first (the hook and anything it started), then the process itself in case
            // the shim had not yet made its own group.
            ChildNative.KillGroup(pid, ChildNative.SigKill);
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }

    /// <summary>The hook's process: the shim, then the command; a cleared environment plus <see cref="PassThroughEnv"/>.</summary>
    public static ProcessStartInfo StartInfo(PolicyHook hook, string shimPath, Func<string, string?> daemonEnv)
    {
        var info = new ProcessStartInfo(shimPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(McpChildShim.Verb);
        info.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (string part in hook.Command ?? [])
        {
            info.ArgumentList.Add(part);
        }

        info.Environment.Clear();
        foreach (string name in PassThroughEnv)
        {
            if (daemonEnv(name) is { } value)
            {
                info.Environment[name] = value;
            }
        }

        // The shim is the daemon's binary: no diagnostics socket (it drops this before exec).
        info.Environment["DOTNET_EnableDiagnostics"] = "0";
        return info;
    }

    /// <summary>The hook's stdin: one JSON object, ids only when the call has them.</summary>
    public static byte[] Input(PolicyHookCall call)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("hook", call.Hook);
            w.WriteString("server", call.Server);
            w.WriteString("tool", call.Tool);
            w.WriteString("name", call.Server + "__" + call.Tool);
            w.WriteString("args_digest", call.ArgsDigest);
            w.WritePropertyName("arguments");
            w.WriteStartObject();
            foreach (var (name, value) in call.Arguments ?? [])
            {
                w.WritePropertyName(name);
                value.WriteTo(w);
            }

            w.WriteEndObject();
            w.WriteString("principal_id", call.PrincipalId);
            Optional(w, "parent_principal_id", call.ParentPrincipalId);
            Optional(w, "run_id", call.RunId);
            Optional(w, "session_id", call.SessionId);
            Optional(w, "agent_id", call.AgentId);
            Optional(w, "tool_call_id", call.ToolCallId);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static PolicyHookVerdict Denied(string outcome, string detail) => new(ToolDecision.Deny, outcome, detail, true);

    /// <summary>Everything up to EOF, or null as soon as it passes <see cref="MaxOutputBytes"/>.</summary>
    private static async Task<byte[]?> ReadCappedAsync(Stream stream, CancellationToken ct)
    {
        byte[] buffer = new byte[MaxOutputBytes + 1];
        int total = 0;
        while (true)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(total), ct).ConfigureAwait(false);
            if (n == 0)
            {
                return buffer[..total];
            }

            total += n;
            if (total > MaxOutputBytes)
            {
                return null;
            }
        }
    }

    private static async Task DrainAsync(Stream stream, CancellationToken ct)
    {
        byte[] buffer = new byte[4096];
        while (await stream.ReadAsync(buffer, ct).ConfigureAwait(false) > 0)
        {
        }
    }

    private static int SafePid(Process process)
    {
        try
        {
            return process.Id;
        }
        catch (InvalidOperationException)
        {
            return 0;
        }
    }
}
