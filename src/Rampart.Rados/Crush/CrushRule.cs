namespace Rampart.Rados.Crush;

/// <summary>
/// A replicated rule in Ceph's usual shape:
/// <code>
/// step take {Root}
/// step chooseleaf firstn 0 type {FailureDomainType}
/// step emit
/// </code>
/// "firstn 0" means "as many as the pool's size". With FailureDomainType = Osd it is the same as
/// "choose firstn 0 type osd".
/// </summary>
public sealed record CrushRule(string Name, int Id, string Root, CrushBucketType FailureDomainType)
{
    /// <summary>Ceph's default rule: "replicated_rule", id 0, root "default", failure domain host.</summary>
    public static CrushRule DefaultReplicated { get; } = new("replicated_rule", 0, "default", CrushBucketType.Host);
}
