using Spectre.Console;
using Spectre.Console.Rendering;

namespace RaftHead.Cli;

/// <summary>
/// How human output is drawn. On a terminal: bordered tables, colour, the terminal's width. Anywhere else (a pipe, a
/// file, a test): no escape codes, no borders, columns two spaces apart, no wrapping and no trailing blanks, so the
/// same answer always prints the same text and a line splits on whitespace into its cells.
/// </summary>
/// <param name="Terminal">Draw for a terminal.</param>
/// <param name="Width">Columns available; text wider than this wraps inside its cell.</param>
/// <param name="Colour">Colour and bold on a terminal (off where NO_COLOR is set, as no-color.org asks).</param>
internal sealed record HumanOutput(bool Terminal, int Width, bool Colour = false)
{
    /// <summary>Wide enough that no table of ours wraps when the output is not a terminal.</summary>
    private const int PlainWidth = 1_000;

    public static readonly HumanOutput Plain = new(false, PlainWidth);

    /// <summary>For this process's standard output.</summary>
    public static HumanOutput ForStdout()
    {
        if (Console.IsOutputRedirected)
        {
            return Plain;
        }

        int width;
        try
        {
            width = Console.WindowWidth;
        }
        catch (IOException)
        {
            width = 0;
        }

        return new HumanOutput(true, width > 0 ? width : 120, string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")));
    }

    /// <summary>Runs <paramref name="draw"/> against a console of this kind and returns what it printed.</summary>
    public string Render(Action<IAnsiConsole> draw)
    {
        ArgumentNullException.ThrowIfNull(draw);
        using var writer = new StringWriter();
        var colour = Terminal && Colour;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = colour ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = colour ? ColorSystemSupport.Standard : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = Width;
        console.Profile.Capabilities.Unicode = Terminal;
        draw(console);
        return TrimLineEnds(writer.ToString());
    }

    /// <summary>A table drawn the way this output draws tables.</summary>
    public Table Table(params string[] columns)
    {
        var table = new Table { Border = Terminal ? TableBorder.Rounded : TableBorder.None };
        for (var i = 0; i < columns.Length; i++)
        {
            var column = columns[i];
            // A leading '>' right-aligns a numeric column; the header itself is plain text.
            var right = column.StartsWith('>');
            var header = new TableColumn(new Text(right ? column[1..] : column, Terminal && Colour ? new Style(decoration: Decoration.Bold) : Style.Plain))
            {
                Alignment = right ? Justify.Right : Justify.Left,
                // On a terminal only the last column (a platform, a digest: the longest text) wraps to fit the width.
                NoWrap = !Terminal || i < columns.Length - 1,
            };
            if (!Terminal)
            {
                header.Padding = new Padding(0, 0, 2, 0);
            }

            table.AddColumn(header);
        }

        return table;
    }

    /// <summary>
    /// A cell for one long word (a digest): on a terminal too narrow for it, cut with an ellipsis rather than folded
    /// over several lines; off a terminal always whole. The full text is what <c>--json</c> and a pipe print.
    /// </summary>
    public static IRenderable Cropped(string text) => new Text(text) { Overflow = Overflow.Ellipsis };

    /// <summary>A cell: literal text (never markup), coloured on a terminal.</summary>
    public IRenderable Cell(string text, Color? colour = null) =>
        new Text(text, Terminal && Colour && colour is { } c ? new Style(c) : Style.Plain);

    private static string TrimLineEnds(string text) =>
        string.Join('\n', text.Split('\n').Select(line => line.TrimEnd(' ', '\r')));
}
