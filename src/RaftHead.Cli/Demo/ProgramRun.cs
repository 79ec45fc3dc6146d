namespace RaftHead.Cli.Demo;

/// <summary>The built program, fetched from the CAS and run.</summary>
/// <param name="Digest">The program's digest in the CAS (hash/size).</param>
/// <param name="Output">What it printed on stdout, its trailing newline cut.</param>
internal sealed record ProgramRun(string Digest, long SizeBytes, int ExitCode, string Output);
