namespace Kheish.Daemon.Tests.Connectors;

/// <summary>
/// The sidecar the tests run: fetches its first credential, writes (atomically) its whole
/// environment, the credential's SHA-256, its keys, pid and lease token to a JSON file, then
/// long-polls its events into a second file. It never prints or stores the credential itself.
/// </summary>
public static class SidecarScript
{
    public const string Source = """
        import hashlib, json, os, sys, time, urllib.request, urllib.error
        out, name = sys.argv[1], sys.argv[2]
        url = os.environ["KHEISH_DAEMON_URL"]; tok = os.environ["KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN"]
        def call(path, body=None):
            req = urllib.request.Request(url + path, data=body, headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.load(r)
            except urllib.error.HTTPError as e: return e.code, json.load(e)
        keys = json.loads(os.environ["KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON"])
        digest = "none"
        if keys:
            st, body = call(f"/v1/connectors/external/{name}/credentials/{keys[0]}")
            digest = hashlib.sha256(body["value"].encode()).hexdigest() if st == 200 else "refused:" + body.get("code", "")
        with open(out + ".tmp", "w") as f:
            json.dump({"env": dict(os.environ), "digest": digest, "keys": keys, "pid": os.getpid(), "pgid": os.getpgid(0)}, f)
        os.rename(out + ".tmp", out)
        print("credential digest " + digest, flush=True)
        if os.environ.get("EXIT_AFTER_FETCH") == "1": sys.exit(3)
        while True:
            st, evs = call(f"/v1/connectors/external/{name}/events?wait_seconds=5")
            if st == 200:
                for e in evs["events"]:
                    with open(out + ".events", "a") as f: f.write(json.dumps(e) + "\n")
            else:
                time.sleep(0.5)
        """;

    public static string Write(string directory)
    {
        string path = Path.Combine(directory, "sidecar.py");
        File.WriteAllText(path, Source);
        return path;
    }
}
