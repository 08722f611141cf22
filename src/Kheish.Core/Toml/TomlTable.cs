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
    // Most tables are small: keys and values live in two arrays searched linearly (keys are
    // usually the same interned instances, so the comparison is a pointer check); a hash
    // index is built only once a table outgrows that. Far fewer allocations per table than a
    // dictionary, which is most of a parse's garbage.
    private const int IndexThreshold = 8;

    private string[] _keys;
    private object[] _values;
    private int _count;
    private Dictionary<string, int>? _index;

    public TomlTable()
        : this(TomlTableKind.Header)
    {
    }

    internal TomlTable(TomlTableKind kind)
    {
        Kind = kind;
        _keys = [];
        _values = [];
    }

    internal TomlTableKind Kind { get; set; }

    public int Count => _count;

    public IEnumerable<string> Keys
    {
        get
        {
            for (int i = 0; i < _count; i++)
            {
                yield return _keys[i];
            }
        }
    }

    public IEnumerable<object> Values
    {
        get
        {
            for (int i = 0; i < _count; i++)
            {
                yield return _values[i];
            }
        }
    }

    public object this[string key] => TryGetValue(key, out object? value) ? value : throw new KeyNotFoundException("no such key in the TOML table");

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object value)
    {
        int i = IndexOf(key);
        if (i < 0)
        {
            value = null;
            return false;
        }

        value = _values[i];
        return true;
    }

    /// <summary>The key and value at a position in document order.</summary>
    public KeyValuePair<string, object> GetAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        return new(_keys[index], _values[index]);
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<string, object>> IEnumerable<KeyValuePair<string, object>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Adds a key the caller has checked is absent.</summary>
    internal void Add(string key, object value)
    {
        if (_count == _keys.Length)
        {
            int size = _count == 0 ? 4 : _count * 2;
            Array.Resize(ref _keys, size);
            Array.Resize(ref _values, size);
        }

        _keys[_count] = key;
        _values[_count] = value;
        if (_index is not null)
        {
            _index.Add(key, _count);
        }
        else if (_count == IndexThreshold)
        {
            _index = new Dictionary<string, int>(_count * 2, StringComparer.Ordinal);
            for (int i = 0; i <= _count; i++)
            {
                _index.Add(_keys[i], i);
            }
        }

        _count++;
    }

    private int IndexOf(string key)
    {
        if (_index is not null)
        {
            return _index.TryGetValue(key, out int i) ? i : -1;
        }

        string[] keys = _keys;
        for (int i = 0; i < _count; i++)
        {
            if (string.Equals(keys[i], key, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Entries in document order, without allocating.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<string, object>>
    {
        private readonly TomlTable _table;
        private int _i;

        internal Enumerator(TomlTable table)
        {
            _table = table;
            _i = -1;
        }

        public readonly KeyValuePair<string, object> Current => new(_table._keys[_i], _table._values[_i]);

        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_i < _table._count;

        public void Reset() => _i = -1;

        public readonly void Dispose()
        {
        }
    }
}
