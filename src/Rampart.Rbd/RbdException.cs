using Rampart.Rados.Client;

namespace Rampart.Rbd;

/// <summary>An image operation refused, worded as the rbd tool does ("Error EBUSY: …").</summary>
public sealed class RbdException(string errno, string message) : RadosException($"Error {errno}: {message}");
