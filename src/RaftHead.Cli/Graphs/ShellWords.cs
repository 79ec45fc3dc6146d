using System.Text;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// A command line as a POSIX shell splits it: words (quotes and backslashes removed), the operators between
/// commands, subshell parentheses and redirections. Only what build output shows is understood; expansions are
/// flagged, never performed.
/// </summary>
internal static class ShellWords
{
    internal enum Kind
    {
        Word,

        /// <summary>"&amp;&amp;", "||", ";", "|", "&amp;", "(", ")".</summary>
        Operator,

        /// <summary>A redirection with its target, as written without spaces: "1&gt;&amp;2", "&gt;/dev/null", "&gt;&gt;file".</summary>
        Redirect,
    }

    /// <param name="Text">The word without its quoting, the operator, or the redirection.</param>
    /// <param name="Type">What it is.</param>
    /// <param name="Expands">A word with an unquoted or double-quoted '$', '`' or glob: its meaning depends on a shell.</param>
    internal readonly record struct Token(string Text, Kind Type, bool Expands)
    {
        public static Token Word(string text) => new(text, Kind.Word, false);

        /// <summary>A redirection that changes no file: one descriptor to another, or to /dev/null.</summary>
        public bool WritesNothing => Type == Kind.Redirect && (Text.Contains(">&", StringComparison.Ordinal) || Text.Contains("<&", StringComparison.Ordinal) || Text.EndsWith("/dev/null", StringComparison.Ordinal));
    }

    /// <summary>Splits <paramref name="line"/>; null when a quote is left open.</summary>
    public static List<Token>? Split(string line)
    {
        var tokens = new List<Token>();
        var word = new StringBuilder();
        var inWord = false;
        var expands = false;
        var substitution = 0;
        var i = 0;
        void EndWord()
        {
            if (inWord)
            {
                tokens.Add(new Token(word.ToString(), Kind.Word, expands));
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
                case ' ' or '\t' or '\n' or '\r' when substitution == 0:
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
                case '$' when i + 1 < line.Length && line[i + 1] == '(':
                    substitution++;
                    expands = true;
                    inWord = true;
                    word.Append("$(");
                    i += 2;
                    break;
                case ')' when substitution > 0:
                    substitution--;
                    word.Append(c);
                    i++;
                    break;
                case '<' or '>':
                    i = Redirect(line, i, word, ref inWord, tokens, EndWord);
                    break;
                case '&' or '|' or ';' or '(' or ')' when substitution == 0:
                    {
                        EndWord();
                        var twice = c is '&' or '|' && i + 1 < line.Length && line[i + 1] == c;
                        tokens.Add(new Token(twice ? new string(c, 2) : c.ToString(), Kind.Operator, false));
                        i += twice ? 2 : 1;
                        break;
                    }

                case '#' when !inWord:
                    // A comment runs to the end of the line.
                    i = line.Length;
                    break;
                default:
                    expands |= c is '$' or '`' or '*' or '?' or '~';
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

    /// <summary>Reads a redirection starting at <paramref name="at"/> (its descriptor, if any, is the word just before).</summary>
    private static int Redirect(string line, int at, StringBuilder word, ref bool inWord, List<Token> tokens, Action endWord)
    {
        var descriptor = "";
        if (inWord && word.Length > 0 && word.ToString().All(char.IsAsciiDigit) && at > 0 && char.IsAsciiDigit(line[at - 1]))
        {
            descriptor = word.ToString();
            word.Clear();
            inWord = false;
        }

        endWord();
        var i = at + 1;
        var op = line[at].ToString();
        if (i < line.Length && line[i] == '>' && line[at] == '>')
        {
            op = ">>";
            i++;
        }

        if (i < line.Length && line[i] == '&')
        {
            op += "&";
            i++;
        }

        while (i < line.Length && line[i] is ' ' or '\t')
        {
            i++;
        }

        var start = i;
        while (i < line.Length && line[i] is not (' ' or '\t' or ';' or '&' or '|' or '<' or '>' or '(' or ')'))
        {
            i++;
        }

        tokens.Add(new Token(descriptor + op + line[start..i].Trim('"', '\''), Kind.Redirect, false));
        return i;
    }
}
