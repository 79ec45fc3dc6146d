namespace RaftHead.Protocol.Tests;

internal sealed record ProtocResult(int ExitCode, byte[] Stdout, string Stderr);
