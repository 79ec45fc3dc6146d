using RaftHead.Cli.Graphs;
using Spectre.Console;

namespace RaftHead.Cli.Demo;

/// <summary>
/// The demo's story, a line per thing that happened. On a terminal, through Spectre.Console, held back while a live
/// progress display draws (it owns the screen then) and told when it ends; elsewhere, plain lines at once, each
/// written whole, so they interleave cleanly with a plain progress display's. With <c>--json</c>, nothing.
/// </summary>
internal sealed class DemoNarrator
{
    private readonly IAnsiConsole? _console;
    private readonly TextWriter? _plain;
    private readonly Lock _lock = new();
    private readonly List<(string Text, Color? Colour)> _held = [];
    private bool _holding;

    private DemoNarrator(IAnsiConsole? console, TextWriter? plain)
    {
        _console = console;
        _plain = plain;
    }

    /// <summary>
    /// How a build's watch is shown: a live display on a terminal (lines said meanwhile are held back until
    /// <see cref="Release"/>), a line per change elsewhere, nothing for JSON.
    /// </summary>
    public IGraphProgress? Progress()
    {
        if (_console is not null)
        {
            Hold();
            return new LiveGraphProgress(_console, TimeProvider.System);
        }

        return _plain is null ? null : new PlainGraphProgress(_plain, _plain);
    }

    public static DemoNarrator Silent() => new(null, null);

    public static DemoNarrator Terminal(IAnsiConsole console) => new(console, null);

    public static DemoNarrator Plain(TextWriter output) => new(null, output);

    public void Say(string text, Color? colour = null)
    {
        lock (_lock)
        {
            if (_plain is not null)
            {
                _plain.WriteLine(text);
            }
            else if (_console is not null)
            {
                if (_holding)
                {
                    _held.Add((text, colour));
                }
                else
                {
                    Write(text, colour);
                }
            }
        }
    }

    private void Hold()
    {
        lock (_lock)
        {
            _holding = true;
        }
    }

    /// <summary>The live display has ended: the lines held back are told.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _holding = false;
            foreach (var (text, colour) in _held)
            {
                Write(text, colour);
            }

            _held.Clear();
        }
    }

    private void Write(string text, Color? colour) =>
        _console!.Write(new Text(text + "\n", colour is { } c ? new Style(c) : Style.Plain));
}
