namespace Kheish.Core.Routes;

/// <summary>Checks shared by the routes file and the header builder.</summary>
internal static class RouteValues
{
    /// <summary>Visible ASCII and spaces/tabs inside, nothing that could split or smuggle an HTTP header.</summary>
    public static bool IsHeaderSafe(string value)
    {
        if (value.Length == 0 || value[0] is ' ' or '\t' || value[^1] is ' ' or '\t')
        {
            return false;
        }

        foreach (char c in value)
        {
            if (c is < ' ' and not '\t' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>POSIX-style environment variable names: letters, digits, underscore, not starting with a digit.</summary>
    public static bool IsEnvironmentVariableName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}
