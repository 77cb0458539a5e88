using Rampart.Rados.Auth;

namespace Rampart.Rados.Tests.Auth;

public class CapsTests
{
    [Theory]
    [InlineData("allow *")]
    [InlineData("allow r")]
    [InlineData("allow rw")]
    [InlineData("allow rwx")]
    [InlineData("allow rwx pool=volumes")]
    [InlineData("allow rx pool=images")]
    [InlineData("allow rwx pool=volumes, allow rx pool=images")]
    [InlineData("profile rbd")]
    [InlineData("profile rbd pool=vms")]
    [InlineData("profile rbd-read-only pool=images")]
    [InlineData("profile osd")]
    [InlineData("profile mon")]
    public void Accepts_OsdCaps(string text)
    {
        var caps = Caps.Parse("osd", text);
        Assert.Equal(text, caps.Text);
        Assert.NotEmpty(caps.Grants);
    }

    [Theory]
    [InlineData("osd", "allow rwz pool=x", "osd caps 'allow rwz pool=x': unknown permission 'z'")]
    [InlineData("osd", "allow rr", "osd caps 'allow rr': permission 'r' repeated")]
    [InlineData("osd", "allow", "osd caps 'allow': 'allow' is not 'allow PERMS [pool=NAME]' or 'profile NAME [pool=NAME]'")]
    [InlineData("osd", "allow rw pol=x", "osd caps 'allow rw pol=x': unexpected 'pol=x' (expected pool=NAME)")]
    [InlineData("osd", "allow rw pool=", "osd caps 'allow rw pool=': empty pool name")]
    [InlineData("osd", "allow r,", "osd caps 'allow r,': empty grant")]
    [InlineData("osd", "permit r", "osd caps 'permit r': unknown keyword 'permit' (expected allow or profile)")]
    [InlineData("osd", "profile admin", "osd caps 'profile admin': unknown profile 'admin'")]
    [InlineData("osd", "profile osd pool=x", "osd caps 'profile osd pool=x': profile 'osd' takes no pool")]
    [InlineData("mon", "allow r pool=x", "mon caps 'allow r pool=x': pool restriction 'pool=x' only applies to osd caps")]
    [InlineData("mon", "profile rbd-read-only", "mon caps 'profile rbd-read-only': profile 'rbd-read-only' does not apply to mon caps")]
    [InlineData("mds", "allow *", "unknown service 'mds' (expected mon, osd, mgr)")]
    public void Rejects_BadCaps(string service, string text, string error)
    {
        Assert.Equal(error, Assert.Throws<FormatException>(() => Caps.Parse(service, text)).Message);
    }

    [Fact]
    public void Glance_WritesImages_NotVolumes()
    {
        var glance = Caps.None.With("mon", "profile rbd").With("osd", "allow rwx pool=images");
        Assert.True(glance.Allows("osd", CapOp.Write, "images"));
        Assert.True(glance.Allows("osd", CapOp.Read | CapOp.Write, "images"));
        Assert.False(glance.Allows("osd", CapOp.Write, "volumes"));
        Assert.False(glance.Allows("osd", CapOp.Read, null));
        Assert.True(glance.Allows("mon", CapOp.Read));
        Assert.False(glance.Allows("mon", CapOp.Write));
        Assert.False(glance.Allows("mgr", CapOp.Read));
    }

    [Fact]
    public void SeveralGrants_EachPoolItsOwnRights()
    {
        var cinder = Caps.Parse("osd", "allow rwx pool=volumes, allow rx pool=images");
        Assert.True(cinder.Allows(CapOp.Write, "volumes"));
        Assert.True(cinder.Allows(CapOp.Read, "images"));
        Assert.True(cinder.Allows(CapOp.Execute, "images"));
        Assert.False(cinder.Allows(CapOp.Write, "images"));
        Assert.False(cinder.Allows(CapOp.Read, "vms"));
    }

    [Fact]
    public void AllowStar_And_Profiles()
    {
        Assert.True(Caps.Parse("osd", "allow *").Allows(CapOp.Write | CapOp.Execute, "anything"));
        Assert.True(Caps.Parse("osd", "allow rw").Allows(CapOp.Write, "anything"));
        Assert.False(Caps.Parse("osd", "allow rw").Allows(CapOp.Execute, "anything"));
        var rbdVms = Caps.Parse("osd", "profile rbd pool=vms");
        Assert.True(rbdVms.Allows(CapOp.Read | CapOp.Write | CapOp.Execute, "vms"));
        Assert.False(rbdVms.Allows(CapOp.Read, "images"));
        Assert.True(Caps.Parse("osd", "profile rbd").Allows(CapOp.Write, "images"));
        Assert.False(Caps.Parse("osd", "profile rbd-read-only").Allows(CapOp.Write, "images"));
        Assert.True(Caps.Parse("mon", "profile osd").Allows(CapOp.Execute));
        Assert.False(Caps.Parse("mon", "profile osd").Allows(CapOp.Write));
        Assert.True(Caps.Parse("mon", "profile mon").Allows(CapOp.Write));
        Assert.False(Caps.Parse("osd", "allow r").Allows(CapOp.None, "x"));
    }
}
