namespace RaftHead.Worker.Sandbox;

/// <summary>A local account that actions run as.</summary>
public sealed record UnixUser(string Name, int Uid, int Gid)
{
    /// <summary>Looks the user up in /etc/passwd; null when there is no such user.</summary>
    public static UnixUser? Find(string name)
    {
        const string passwd = "/etc/passwd";
        if (!File.Exists(passwd))
        {
            return null;
        }

        foreach (var line in File.ReadLines(passwd))
        {
            var fields = line.Split(':');
            if (fields.Length >= 4 && fields[0] == name
                && int.TryParse(fields[2], System.Globalization.CultureInfo.InvariantCulture, out var uid)
                && int.TryParse(fields[3], System.Globalization.CultureInfo.InvariantCulture, out var gid))
            {
                return new UnixUser(name, uid, gid);
            }
        }

        return null;
    }
}
