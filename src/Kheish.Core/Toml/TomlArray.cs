using System.Collections;

namespace Kheish.Core.Toml;

/// <summary>
/// A TOML array (values of any type, mixed types allowed by TOML 1.0). An array written as a
/// value (<c>a = [...]</c>) is complete; only an array created by <c>[[a]]</c> headers grows.
/// </summary>
internal sealed class TomlArray : IReadOnlyList<object>
{
    private readonly List<object> _items;

    public TomlArray()
        : this(isArrayOfTables: false)
    {
    }

    internal TomlArray(bool isArrayOfTables, int capacity = 0)
    {
        IsArrayOfTables = isArrayOfTables;
        _items = new List<object>(capacity);
    }

    /// <summary>True when the array was built by <c>[[header]]</c> elements.</summary>
    public bool IsArrayOfTables { get; }

    public int Count => _items.Count;

    public object this[int index] => _items[index];

    public List<object>.Enumerator GetEnumerator() => _items.GetEnumerator();

    IEnumerator<object> IEnumerable<object>.GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    internal void Add(object value) => _items.Add(value);
}
