using Google.Protobuf.Reflection;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// Compares our file descriptors with upstream ones, element by element, and lists every
/// difference not explained by a <see cref="KnownDifferences"/> entry. Checked: file package;
/// every message (nested too) and enum; every field's name, number, type, label, message/enum
/// type name and oneof; reserved numbers; every enum value; every service method's types and
/// streaming. Options (deprecated, json_name, http annotations) are not compared: they do not
/// change the binary wire format.
/// </summary>
internal sealed class DescriptorComparer
{
    private readonly KnownDifferences _known;
    private readonly List<string> _problems = [];
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private DescriptorComparer(KnownDifferences known) => _known = known;

    public static IReadOnlyList<string> Compare(
        IEnumerable<FileDescriptorProto> ours,
        IEnumerable<FileDescriptorProto> upstream,
        KnownDifferences known)
    {
        var comparer = new DescriptorComparer(known);
        var upstreamByName = new Dictionary<string, FileDescriptorProto>(StringComparer.Ordinal);
        foreach (FileDescriptorProto file in upstream)
        {
            upstreamByName[file.Name] = file;
        }

        foreach (FileDescriptorProto file in ours)
        {
            if (!upstreamByName.TryGetValue(file.Name, out FileDescriptorProto? theirs))
            {
                comparer._problems.Add($"file {file.Name}: no upstream file of that name");
                continue;
            }

            comparer.CompareFile(file, theirs);
        }

        comparer.ReportUnusedAllowances();
        return comparer._problems;
    }

    private void CompareFile(FileDescriptorProto ours, FileDescriptorProto theirs)
    {
        if (ours.Package != theirs.Package)
        {
            _problems.Add($"file {ours.Name}: package '{ours.Package}', upstream '{theirs.Package}'");
            return;
        }

        CompareMessages(ours.Package, ours.MessageType, theirs.MessageType);
        CompareEnums(ours.Package, ours.EnumType, theirs.EnumType);
        CompareServices(ours.Package, ours.Service, theirs.Service);
    }

    private void CompareMessages(string scope, IEnumerable<DescriptorProto> ours, IEnumerable<DescriptorProto> theirs) =>
        MatchByName(scope, "message", ours, theirs, m => m.Name, CompareMessage);

    /// <summary>
    /// Pairs our definitions with upstream's by name: each pair is compared, ours alone must be an allowed newer type,
    /// upstream's alone must be an intentional omission.
    /// </summary>
    private void MatchByName<T>(string scope, string kind, IEnumerable<T> ours, IEnumerable<T> theirs, Func<T, string> nameOf, Action<string, T, T> compare)
    {
        var theirsByName = theirs.ToDictionary(nameOf, StringComparer.Ordinal);
        var oursByName = new HashSet<string>(StringComparer.Ordinal);
        foreach (T definition in ours)
        {
            string full = $"{scope}.{nameOf(definition)}";
            oursByName.Add(nameOf(definition));
            if (theirsByName.TryGetValue(nameOf(definition), out T? upstream))
            {
                FlagStale(_known.NewTypes, full, kind);
                compare(full, definition, upstream);
            }
            else if (!Allowed(_known.NewTypes, full))
            {
                _problems.Add($"{kind} {full}: not in upstream (a typo, or add it to {nameof(KnownDifferences.NewTypes)} with its version)");
            }
        }

        foreach (T upstream in theirs)
        {
            string full = $"{scope}.{nameOf(upstream)}";
            if (!oursByName.Contains(nameOf(upstream)) && !_known.Omitted.ContainsKey(full))
            {
                _problems.Add($"{kind} {full}: defined upstream but missing from ours");
            }
        }
    }

    private void CompareMessage(string full, DescriptorProto ours, DescriptorProto theirs)
    {
        var theirsByNumber = theirs.Field.ToDictionary(f => f.Number);
        var ourNumbers = new HashSet<int>();
        foreach (FieldDescriptorProto field in ours.Field)
        {
            string key = $"{full}.{field.Name}";
            ourNumbers.Add(field.Number);
            if (!theirsByNumber.TryGetValue(field.Number, out FieldDescriptorProto? upstream))
            {
                if (!Allowed(_known.NewFields, key))
                {
                    _problems.Add($"field {key} = {field.Number}: upstream has no field with that number (a typo, or add it to {nameof(KnownDifferences.NewFields)} with its version)");
                }
                else if (IsReserved(theirs, field.Number))
                {
                    _problems.Add($"field {key} = {field.Number}: upstream reserves that number");
                }

                continue;
            }

            FlagStale(_known.NewFields, key, "field");
            if (field.Name != upstream.Name)
            {
                if (_known.RenamedFields.TryGetValue(key, out (string UpstreamName, string Version) rename)
                    && rename.UpstreamName == upstream.Name)
                {
                    _used.Add(key);
                }
                else
                {
                    _problems.Add($"field {key} = {field.Number}: upstream calls it '{upstream.Name}'");
                }
            }

            if (field.Type != upstream.Type)
            {
                _problems.Add($"field {key}: type {field.Type}, upstream {upstream.Type}");
            }

            if (field.Label != upstream.Label)
            {
                _problems.Add($"field {key}: label {field.Label}, upstream {upstream.Label}");
            }

            if (field.TypeName != upstream.TypeName)
            {
                _problems.Add($"field {key}: type name '{field.TypeName}', upstream '{upstream.TypeName}'");
            }

            string? ourOneof = OneofName(ours, field);
            string? theirOneof = OneofName(theirs, upstream);
            if (ourOneof != theirOneof)
            {
                _problems.Add($"field {key}: oneof '{ourOneof ?? "(none)"}', upstream '{theirOneof ?? "(none)"}'");
            }

            if (field.Proto3Optional != upstream.Proto3Optional)
            {
                _problems.Add($"field {key}: proto3 optional {field.Proto3Optional}, upstream {upstream.Proto3Optional}");
            }
        }

        foreach (FieldDescriptorProto upstream in theirs.Field)
        {
            string key = $"{full}.{upstream.Name}";
            if (!ourNumbers.Contains(upstream.Number) && !_known.Omitted.ContainsKey(key))
            {
                _problems.Add($"field {key} = {upstream.Number}: defined upstream but missing from ours");
            }
        }

        foreach (DescriptorProto.Types.ReservedRange range in theirs.ReservedRange)
        {
            for (int number = range.Start; number < range.End; number++)
            {
                if (!IsReserved(ours, number) && !ourNumbers.Contains(number))
                {
                    _problems.Add($"message {full}: upstream reserves field number {number}, ours does not");
                }
            }
        }

        CompareMessages(full, ours.NestedType, theirs.NestedType);
        CompareEnums(full, ours.EnumType, theirs.EnumType);
    }

    private void CompareEnums(string scope, IEnumerable<EnumDescriptorProto> ours, IEnumerable<EnumDescriptorProto> theirs) =>
        MatchByName(scope, "enum", ours, theirs, e => e.Name, CompareEnum);

    private void CompareEnum(string full, EnumDescriptorProto ours, EnumDescriptorProto theirs)
    {
        var theirsByNumber = new Dictionary<int, string>();
        foreach (EnumValueDescriptorProto value in theirs.Value)
        {
            theirsByNumber.TryAdd(value.Number, value.Name);
        }

        var ourNumbers = new HashSet<int>();
        foreach (EnumValueDescriptorProto value in ours.Value)
        {
            string key = $"{full}.{value.Name}";
            ourNumbers.Add(value.Number);
            if (!theirsByNumber.TryGetValue(value.Number, out string? upstreamName))
            {
                if (!Allowed(_known.NewEnumValues, key))
                {
                    _problems.Add($"enum value {key} = {value.Number}: upstream has no value with that number (a typo, or add it to {nameof(KnownDifferences.NewEnumValues)} with its version)");
                }

                continue;
            }

            FlagStale(_known.NewEnumValues, key, "enum value");
            if (upstreamName != value.Name)
            {
                _problems.Add($"enum value {key} = {value.Number}: upstream calls it '{upstreamName}'");
            }
        }

        foreach (EnumValueDescriptorProto value in theirs.Value)
        {
            string key = $"{full}.{value.Name}";
            if (!ourNumbers.Contains(value.Number) && !_known.Omitted.ContainsKey(key))
            {
                _problems.Add($"enum value {key} = {value.Number}: defined upstream but missing from ours");
            }
        }
    }

    private void CompareServices(
        string package,
        IEnumerable<ServiceDescriptorProto> ours,
        IEnumerable<ServiceDescriptorProto> theirs)
    {
        var theirsByName = theirs.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var oursByName = new HashSet<string>(StringComparer.Ordinal);
        foreach (ServiceDescriptorProto service in ours)
        {
            string full = $"{package}.{service.Name}";
            oursByName.Add(service.Name);
            if (!theirsByName.TryGetValue(service.Name, out ServiceDescriptorProto? upstream))
            {
                _problems.Add($"service {full}: not in upstream");
                continue;
            }

            var theirMethods = upstream.Method.ToDictionary(m => m.Name, StringComparer.Ordinal);
            var ourMethods = new HashSet<string>(StringComparer.Ordinal);
            foreach (MethodDescriptorProto method in service.Method)
            {
                string key = $"{full}.{method.Name}";
                ourMethods.Add(method.Name);
                if (!theirMethods.TryGetValue(method.Name, out MethodDescriptorProto? upstreamMethod))
                {
                    if (!Allowed(_known.NewMethods, key))
                    {
                        _problems.Add($"method {key}: not in upstream (a typo, or add it to {nameof(KnownDifferences.NewMethods)} with its version)");
                    }

                    continue;
                }

                FlagStale(_known.NewMethods, key, "method");
                if (method.InputType != upstreamMethod.InputType || method.OutputType != upstreamMethod.OutputType)
                {
                    _problems.Add($"method {key}: {method.InputType} -> {method.OutputType}, upstream {upstreamMethod.InputType} -> {upstreamMethod.OutputType}");
                }

                if (method.ClientStreaming != upstreamMethod.ClientStreaming || method.ServerStreaming != upstreamMethod.ServerStreaming)
                {
                    _problems.Add($"method {key}: streaming client={method.ClientStreaming} server={method.ServerStreaming}, upstream client={upstreamMethod.ClientStreaming} server={upstreamMethod.ServerStreaming}");
                }
            }

            foreach (MethodDescriptorProto method in upstream.Method)
            {
                string key = $"{full}.{method.Name}";
                if (!ourMethods.Contains(method.Name) && !_known.Omitted.ContainsKey(key))
                {
                    _problems.Add($"method {key}: defined upstream but missing from ours");
                }
            }
        }

        foreach (ServiceDescriptorProto upstream in theirs)
        {
            string full = $"{package}.{upstream.Name}";
            if (!oursByName.Contains(upstream.Name) && !_known.Omitted.ContainsKey(full))
            {
                _problems.Add($"service {full}: defined upstream but missing from ours");
            }
        }
    }

    private bool Allowed(Dictionary<string, string> list, string key)
    {
        if (!list.ContainsKey(key))
        {
            return false;
        }

        _used.Add(key);
        return true;
    }

    private void FlagStale(Dictionary<string, string> list, string key, string kind)
    {
        if (list.ContainsKey(key))
        {
            _used.Add(key);
            _problems.Add($"{kind} {key}: allow-listed as new, but upstream defines it: remove the entry");
        }
    }

    private void ReportUnusedAllowances()
    {
        foreach ((string list, string key, _) in _known.AllEntries())
        {
            if (list != nameof(KnownDifferences.Omitted) && !_used.Contains(key))
            {
                _problems.Add($"{list} entry '{key}' matched nothing in our files: a typo in the entry, or the element was removed");
            }
        }
    }

    private static bool IsReserved(DescriptorProto message, int number)
    {
        foreach (DescriptorProto.Types.ReservedRange range in message.ReservedRange)
        {
            if (number >= range.Start && number < range.End)
            {
                return true;
            }
        }

        return false;
    }

    private static string? OneofName(DescriptorProto message, FieldDescriptorProto field) =>
        field.HasOneofIndex ? message.OneofDecl[field.OneofIndex].Name : null;
}
