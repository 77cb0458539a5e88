using Rampart.Common.Config;
using Rampart.Rados.Auth;

namespace Rampart.Rados.Tests.Auth;

public class KeyringTests
{
    private const string Key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    [Fact]
    public void Parse_CephFormat_ReadsKeyAndCaps()
    {
        var keyring = Keyring.Parse($"""
            # admin
            [client.admin]
            	key = {Key}
            	caps mon = "allow *"
            	caps osd = "allow *"
            [client.glance]
            	key = {Key}
            	caps mon = "profile rbd"
            	caps osd = "allow rwx pool=images"
            [mon.]
            	key = {Key}
            	caps mon = "allow *"
            """);
        Assert.Equal(3, keyring.Count);
        var glance = keyring.Find(EntityName.Parse("client.glance"))!;
        Assert.Equal(32, glance.Key.Length);
        Assert.True(glance.Caps.Allows("osd", CapOp.Write, "images"));
        Assert.False(glance.Caps.Allows("osd", CapOp.Write, "volumes"));
        Assert.True(glance.Caps.Allows("mon", CapOp.Read));
        Assert.NotNull(keyring.Find(EntityName.Parse("mon.")));
    }

    [Fact]
    public void SaveLoad_RoundTrip_KeepsEverything()
    {
        var keyring = Keyring.Empty
            .With(new KeyringEntry(EntityName.Parse("client.cinder"), Convert.FromBase64String(Keyring.GenerateKey()),
                Caps.None.With("mon", "profile rbd").With("osd", "allow rwx pool=volumes, allow rx pool=images")))
            .With(new KeyringEntry(EntityName.Parse("osd.0"), Convert.FromBase64String(Keyring.GenerateKey()),
                Caps.None.With("osd", "profile osd").With("mon", "profile osd")));
        string path = Path.Combine(Path.GetTempPath(), $"rampart-keyring-{Guid.NewGuid():N}");
        try
        {
            keyring.Save(path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            var loaded = Keyring.Load(path);
            Assert.Equal(keyring.Format(), loaded.Format());
            var cinder = loaded.Find(EntityName.Parse("client.cinder"))!;
            Assert.Equal(keyring.Find(EntityName.Parse("client.cinder"))!.Key, cinder.Key);
            Assert.Equal("allow rwx pool=volumes, allow rx pool=images", cinder.Caps["osd"]!.Text);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Format_LooksLikeCeph()
    {
        var keyring = Keyring.Empty.With(new KeyringEntry(EntityName.Parse("client.admin"), Convert.FromBase64String(Key),
            Caps.None.With("osd", "allow *").With("mon", "allow *")));
        Assert.Equal($"[client.admin]\n\tkey = {Key}\n\tcaps mon = \"allow *\"\n\tcaps osd = \"allow *\"\n", keyring.Format());
    }

    [Fact]
    public void GenerateKey_Is32RandomBytes()
    {
        string a = Keyring.GenerateKey(), b = Keyring.GenerateKey();
        Assert.Equal(32, Convert.FromBase64String(a).Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Rejects_MalformedFile_WithEveryErrorAndLine()
    {
        var e = Assert.Throws<ConfigException>(() => Keyring.Parse($"""
            key = {Key}
            [client.admin]
            	key = not base64!
            	caps osd = "allow rwz pool=x"
            	colour = blue
            [client.admin
            [bogus.x]
            [client.nokey]
            	caps mon = "allow r"
            [client.two]
            	key = {Key}
            	key = {Key}
            	caps fs = "allow *"
            """, "ceph.client.keyring"));
        Assert.Equal(
        [
            "ceph.client.keyring:1: error: key: 'key' outside any [entity] section",
            "ceph.client.keyring:3: error: key: [client.admin] key is not base64",
            "ceph.client.keyring:4: error: caps osd: [client.admin] osd caps 'allow rwz pool=x': unknown permission 'z'",
            "ceph.client.keyring:5: error: colour: [client.admin] unknown setting 'colour' (expected key or caps SERVICE)",
            "ceph.client.keyring:2: error: key: [client.admin] has no key",
            "ceph.client.keyring:6: error: section: '[client.admin' has no closing ']'",
            "ceph.client.keyring:7: error: section: entity name 'bogus.x': unknown type 'bogus' (expected client, osd, mon, mgr)",
            "ceph.client.keyring:8: error: key: [client.nokey] has no key",
            "ceph.client.keyring:12: error: key: [client.two] has a second key",
            "ceph.client.keyring:13: error: caps fs: [client.two] unknown service 'fs' (expected mon, osd, mgr)",
        ], e.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Rejects_ShortKey()
    {
        var e = Assert.Throws<ConfigException>(() => Keyring.Parse("[client.a]\nkey = AAAA\n", "k"));
        Assert.Equal(
            ["k:2: error: key: [client.a] key of 3 bytes (expected 16-64)", "k:1: error: key: [client.a] has no key"],
            e.Diagnostics.Select(d => d.ToString()));
    }

    [Theory]
    [InlineData("client.admin", "client", "admin")]
    [InlineData("client.rgw.host1", "client", "rgw.host1")]
    [InlineData("osd.0", "osd", "0")]
    [InlineData("mon.a", "mon", "a")]
    [InlineData("mon.", "mon", "")]
    public void EntityName_Parse_Accepts(string text, string type, string id)
    {
        var name = EntityName.Parse(text);
        Assert.Equal((type, id), (name.Type, name.Id));
        Assert.Equal(text, name.ToString());
    }

    [Theory]
    [InlineData("admin", "entity name 'admin' is not type.id (e.g. client.admin)")]
    [InlineData("client.", "entity name 'client.': empty id (only 'mon.' may have one)")]
    [InlineData("osd.a b", "entity name 'osd.a b': character ' ' not allowed in an id (letters, digits, '.', '-', '_')")]
    [InlineData("", "entity name is empty")]
    public void EntityName_Parse_Rejects(string text, string error)
    {
        Assert.Equal(error, Assert.Throws<FormatException>(() => EntityName.Parse(text)).Message);
    }
}
