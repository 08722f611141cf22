using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Kheish.Core.Toml;

/// <summary>How a table came to exist; the TOML redefinition rules depend on it.</summary>
internal enum TomlTableKind : byte
{
    /// <summary>Created as a parent of a <c>[a.b]</c> header; a later <c>[a]</c> may still define it once.</summary>
    Implicit,

    /// <summary>Defined by its own <c>[header]</c> (or the root, or an array-of-tables element).</summary>
    Header,

    /// <summary>Created by a dotted key (<c>a.b = 1</c>); no header may define it again.</summary>
    Dotted,

    /// <summary>An inline table <c>{ ... }</c>: complete when it closes, nothing may add to it.</summary>
    Inline,
}

/// <summary>
/// A TOML table: keys in document order. Values are <see cref="string"/>, <see cref="long"/>,
/// <see cref="double"/>, <see cref="bool"/>, <see cref="TomlOffsetDateTime"/>,
/// <see cref="TomlLocalDateTime"/>, <see cref="TomlLocalDate"/>, <see cref="TomlLocalTime"/>,
/// <see cref="TomlArray"/> or <see cref="TomlTable"/>.
/// </summary>
internal sealed class TomlTable : IReadOnlyDictionary<string, object>
{
    private readonly OrderedDictionary<string, object> _items;

    public TomlTable()
        : this(TomlTableKind.Header)
    {
    }

    internal TomlTable(TomlTableKind kind, int capacity = 0)
    {
        Kind = kind;
        _items = new OrderedDictionary<string, object>(capacity, StringComparer.Ordinal);
    }

    internal TomlTableKind Kind { get; set; }

    public int Count => _items.Count;

    public IEnumerable<string> Keys => _items.Keys;

    public IEnumerable<object> Values => _items.Values;

    public object this[string key] => _items[key];

    public bool ContainsKey(string key) => _items.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object value) => _items.TryGetValue(key, out value);

    /// <summary>The key and value at a position in document order.</summary>
    public KeyValuePair<string, object> GetAt(int index) => _items.GetAt(index);

    public OrderedDictionary<string, object>.Enumerator GetEnumerator() => _items.GetEnumerator();

    IEnumerator<KeyValuePair<string, object>> IEnumerable<KeyValuePair<string, object>>.GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    internal void Add(string key, object value) => _items.Add(key, value);
}
