using System.Text;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// A command line as a POSIX shell splits it: words (quotes and backslashes removed) and the operators between
/// commands. Only what build output shows is understood; expansions and redirections are flagged, not performed.
/// </summary>
internal static class ShellWords
{
    /// <summary>One shell word, or an operator ("&amp;&amp;", "||", ";", "|", "&amp;", "&lt;", "&gt;", "&gt;&gt;").</summary>
    /// <param name="Text">The word without its quoting, or the operator.</param>
    /// <param name="IsOperator">True for an operator.</param>
    /// <param name="Expands">The word has an unquoted or double-quoted '$', '`' or glob: its meaning depends on a shell.</param>
    internal readonly record struct Token(string Text, bool IsOperator, bool Expands);

    /// <summary>Splits <paramref name="line"/>; null when a quote is left open.</summary>
    public static List<Token>? Split(string line)
    {
        var tokens = new List<Token>();
        var word = new StringBuilder();
        var inWord = false;
        var expands = false;
        var i = 0;
        void EndWord()
        {
            if (inWord)
            {
                tokens.Add(new Token(word.ToString(), false, expands));
                word.Clear();
                inWord = false;
                expands = false;
            }
        }

        while (i < line.Length)
        {
            var c = line[i];
            switch (c)
            {
                case ' ' or '\t' or '\n' or '\r':
                    EndWord();
                    i++;
                    break;
                case '\'':
                    {
                        var end = line.IndexOf('\'', i + 1);
                        if (end < 0)
                        {
                            return null;
                        }

                        word.Append(line, i + 1, end - i - 1);
                        inWord = true;
                        i = end + 1;
                        break;
                    }

                case '"':
                    {
                        i++;
                        inWord = true;
                        while (i < line.Length && line[i] != '"')
                        {
                            if (line[i] == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$' or '`')
                            {
                                word.Append(line[i + 1]);
                                i += 2;
                                continue;
                            }

                            expands |= line[i] is '$' or '`';
                            word.Append(line[i]);
                            i++;
                        }

                        if (i >= line.Length)
                        {
                            return null;
                        }

                        i++;
                        break;
                    }

                case '\\':
                    if (i + 1 < line.Length)
                    {
                        word.Append(line[i + 1]);
                        inWord = true;
                    }

                    i += 2;
                    break;
                case '&' or '|' or ';' or '<' or '>':
                    {
                        EndWord();
                        var twice = i + 1 < line.Length && line[i + 1] == c && c is '&' or '|' or '>' or ';';
                        tokens.Add(new Token(twice ? new string(c, 2) : c.ToString(), true, false));
                        i += twice ? 2 : 1;
                        break;
                    }

                case '#' when !inWord:
                    // A comment runs to the end of the line.
                    i = line.Length;
                    break;
                default:
                    expands |= c is '$' or '`' or '*' or '?' or '(' or ')' or '~';
                    word.Append(c);
                    inWord = true;
                    i++;
                    break;
            }
        }

        EndWord();
        return tokens;
    }

    /// <summary>A word quoted for a POSIX shell, only when it needs it.</summary>
    public static string Quote(string word)
    {
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or '=' or '+' or ',' or ':' or '@' or '%'))
        {
            return word;
        }

        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
