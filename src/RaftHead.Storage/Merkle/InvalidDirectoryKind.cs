namespace RaftHead.Storage.Merkle;

/// <summary>Why a directory blob of a tree was refused.</summary>
public enum InvalidDirectoryKind
{
    /// <summary>Its digest names more bytes than the walk's <see cref="MerkleWalkOptions.DirectoryMaxBytes"/>.</summary>
    TooLarge,

    /// <summary>Its bytes do not parse as a Directory message (the parser's error is the inner exception).</summary>
    Unparsable,

    /// <summary>It parses but breaks a rule <see cref="DirectoryValidator"/> checks.</summary>
    BreaksRules,
}
