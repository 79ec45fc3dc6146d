using System.CommandLine;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary>
/// <c>rh completion bash|zsh</c>: a script that completes rh's commands and options by asking rh itself, through
/// System.CommandLine's <c>[suggest:N]</c> directive (N: the cursor's position in the line), so it never goes stale.
/// </summary>
internal static class CompletionCommand
{
    // The whole line and the cursor go to rh; it prints one candidate a line for the word under the cursor.
    public const string Bash = """
        # rh completion for bash. Load it with: source <(rh completion bash)
        _rh_complete() {
            local IFS=$'\n'
            local candidates
            candidates=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) || return 0
            COMPREPLY=($(compgen -W "${candidates}" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -F _rh_complete rh

        """;

    public const string Zsh = """
        #compdef rh
        # rh completion for zsh. Load it with: source <(rh completion zsh)
        _rh() {
            local -a candidates
            candidates=("${(@f)$("${words[1]}" "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
            compadd -a candidates
        }
        compdef _rh rh

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash or zsh." };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var completion = new Command("completion", "Print a shell completion script: source <(rh completion bash).");
        completion.Arguments.Add(shell);
        completion.SetAction(result =>
        {
            Console.Write(result.GetValue(shell) == "zsh" ? Zsh : Bash);
            return 0;
        });
        return completion;
    }
}
