using System.CommandLine;
using RaftHead.Cli;
using RaftHead.Cli.Graphs;

var root = new RootCommand("rh: the RaftHead remote build-execution cluster");
root.Options.Add(CliOptions.Json);
root.Options.Add(CliOptions.Endpoint);
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(HeadCommand.Create());
root.Subcommands.Add(WorkerCommand.Create());
root.Subcommands.Add(CacheCommands.Create());
root.Subcommands.Add(OpsCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(WorkersCommand.Create());
root.Subcommands.Add(CompletionCommand.Create());
root.Subcommands.Add(SubmitCommand.Create());
root.Subcommands.Add(GraphCommand.Create());
return await root.Parse(args).InvokeAsync();
