using Rampart.Rados.Auth;
using Rampart.Rados.Maps;
using Rampart.Rados.Mon;
using static Rampart.Rados.Tests.Mon.Cluster;

namespace Rampart.Rados.Tests.Mon;

public class MonitorStateTests
{
    [Fact]
    public void Osd_boot_creates_host_and_osd_then_up_set_contains_it()
    {
        var state = Fresh();
        var (next, result) = state.Apply(new OsdBoot(0, "10.0.1.0:6800", "node-a", 1.5));
        Assert.True(result.Success);
        Assert.Equal(state.Map.Epoch + 1, next.Map.Epoch);
        var host = next.Map.Crush.FindBucket("node-a")!;
        Assert.Equal(Rampart.Rados.Crush.CrushBucketType.Host, host.Type);
        Assert.Equal(next.Map.Crush.FindBucket("default")!.Id, next.Map.Crush.ParentOf(host.Id));
        Assert.Equal(1.5, next.Map.Crush.WeightOf(0));
        var osd = next.Map.FindOsd(0)!;
        Assert.True(osd is { Up: true, In: true, Host: "node-a", Address: "10.0.1.0:6800" });
        Assert.Equal(next.Map.Epoch, osd.UpFrom);

        next = Ok(next, new PoolCreate("one", PgNum: 8, Size: 1, MinSize: 1));
        Assert.All(next.Map.PgsOf("one"), pg => Assert.Equal([0], next.Map.UpSet(pg)));
    }

    [Fact]
    public void Osd_boot_again_with_same_address_is_a_no_op_and_new_address_is_a_new_instance()
    {
        var state = WithOsds(1, 1);
        var (same, result) = state.Apply(new OsdBoot(0, "10.0.1.0:6800", "host0", 1.0));
        Assert.True(result.Success);
        Assert.Same(state, same);
        var moved = Ok(state, new OsdBoot(0, "10.0.1.0:6900", "elsewhere", 9.0));
        Assert.Equal("10.0.1.0:6900", moved.Map.FindOsd(0)!.Address);
        Assert.Equal("host0", moved.Map.FindOsd(0)!.Host); // CRUSH position kept
        Assert.Equal(1.0, moved.Map.Crush.WeightOf(0));
        Assert.Equal(moved.Map.Epoch, moved.Map.FindOsd(0)!.UpFrom);
    }

    [Theory]
    [InlineData(-1, "a:1", "h", 1.0, "Error EINVAL: invalid osd id -1")]
    [InlineData(0, "", "h", 1.0, "Error EINVAL: osd.0: empty address")]
    [InlineData(0, "a:1", " ", 1.0, "Error EINVAL: osd.0: empty host name")]
    [InlineData(0, "a:1", "h", -1.0, "Error EINVAL: osd.0: weight -1 must be a finite number >= 0")]
    public void Osd_boot_refusals(int id, string address, string host, double weight, string message) =>
        Assert.Equal(message, Refused(Fresh(), new OsdBoot(id, address, host, weight)).Message);

    [Fact]
    public void Mark_down_up_out_in_with_messages_and_epochs()
    {
        var state = WithOsds(3, 1);
        long e = state.Map.Epoch;
        var (s1, r1) = state.Apply(new OsdMarkDown(1, "heartbeat", T0));
        Assert.Equal("marked down osd.1. (heartbeat)", r1.Message);
        Assert.Equal(e + 1, s1.Map.Epoch);
        Assert.True(s1.Map.FindOsd(1) is { Up: false, In: true } o && o.DownSince == T0 && o.DownAt == e + 1);

        var (s2, r2) = s1.Apply(new OsdMarkDown(1, "again", T0.AddSeconds(5)));
        Assert.Equal("osd.1 is already down.", r2.Message);
        Assert.Same(s1, s2);

        var (s3, r3) = s1.Apply(new OsdMarkUp(1));
        Assert.Equal("marked up osd.1.", r3.Message);
        Assert.Equal(e + 2, s3.Map.Epoch);
        Assert.True(s3.Map.FindOsd(1) is { Up: true, DownSince: null } up && up.UpFrom == e + 2);
        Assert.Equal("osd.1 is already up.", s3.Apply(new OsdMarkUp(1)).Result.Message);

        var (s4, r4) = s3.Apply(new OsdOut(2));
        Assert.Equal("marked out osd.2.", r4.Message);
        Assert.Equal(0.0, s4.Map.FindOsd(2)!.Reweight);
        Assert.Equal("osd.2 is already out.", s4.Apply(new OsdOut(2)).Result.Message);
        var (s5, r5) = s4.Apply(new OsdIn(2));
        Assert.Equal("marked in osd.2.", r5.Message);
        Assert.Equal(e + 4, s5.Map.Epoch);
        Assert.Equal("osd.2 is already in.", s5.Apply(new OsdIn(2)).Result.Message);

        Assert.Equal("Error ENOENT: osd.9 does not exist", Refused(state, new OsdMarkDown(9, "x", T0)).Message);
        Assert.Equal("Error ENOENT: osd.9 does not exist", Refused(state, new OsdMarkUp(9)).Message);
        Assert.Equal("Error ENOENT: osd.9 does not exist", Refused(state, new OsdOut(9)).Message);
        Assert.Equal("Error ENOENT: osd.9 does not exist", Refused(state, new OsdIn(9)).Message);
    }

    [Fact]
    public void Reweight_within_0_and_1()
    {
        var state = WithOsds(3, 1);
        var next = Ok(state, new OsdReweight(0, 0.5));
        Assert.Equal(0.5, next.Map.FindOsd(0)!.Reweight);
        Assert.Equal("Error EINVAL: weight must be in the range [0..1], got 1.5", Refused(state, new OsdReweight(0, 1.5)).Message);
    }

    [Fact]
    public void Auto_out_only_after_the_interval_and_boot_brings_it_back_in()
    {
        var state = Ok(WithOsds(3, 1), new OsdMarkDown(1, "heartbeat", T0));
        state = Ok(state, new OsdMarkDown(2, "heartbeat", T0.AddSeconds(100)));
        var (early, r) = state.Apply(new AutoOut(T0.AddSeconds(599)));
        Assert.Same(state, early);
        Assert.Equal("no osds to mark out", r.Message);

        var (late, r2) = state.Apply(new AutoOut(T0.AddSeconds(600)));
        Assert.Equal("marked out osd.1 (down for 600s or more)", r2.Message);
        Assert.Equal(state.Map.Epoch + 1, late.Map.Epoch);
        Assert.True(late.Map.FindOsd(1) is { In: false, AutoOut: true });
        Assert.True(late.Map.FindOsd(2)!.In);

        var both = Ok(state, new AutoOut(T0.AddSeconds(700)));
        Assert.Equal(state.Map.Epoch + 1, both.Map.Epoch); // one epoch for both
        Assert.False(both.Map.FindOsd(1)!.In);
        Assert.False(both.Map.FindOsd(2)!.In);

        // Auto-out OSD comes back in on boot; an administrator's out sticks.
        var admin = Ok(late, new OsdOut(0));
        admin = Ok(admin, new OsdMarkDown(0, "stop", T0));
        admin = Ok(admin, new OsdBoot(0, "10.0.1.0:6800", "host0", 1.0));
        admin = Ok(admin, new OsdBoot(1, "10.0.1.1:6800", "host1", 1.0));
        Assert.True(admin.Map.FindOsd(0) is { Up: true, In: false });
        Assert.True(admin.Map.FindOsd(1) is { Up: true, In: true, AutoOut: false });
    }

    [Fact]
    public void Auto_out_interval_is_an_option_and_zero_disables_it()
    {
        var state = Ok(Ok(WithOsds(3, 1), new SetOption("mon_osd_down_out_interval", "60")), new OsdMarkDown(1, "x", T0));
        Assert.False(Ok(state, new AutoOut(T0.AddSeconds(60))).Map.FindOsd(1)!.In);
        var off = Ok(state, new SetOption("mon_osd_down_out_interval", "0"));
        Assert.Same(off, off.Apply(new AutoOut(T0.AddDays(1))).Next);
    }

    [Fact]
    public void Pool_create_default_pg_num_follows_the_article()
    {
        var state = WithOsds(3, 1);
        state = Ok(state, new PoolCreate("a"));
        state = Ok(state, new PoolCreate("b"));
        var (next, result) = state.Apply(new PoolCreate("c"));
        Assert.Equal("pool 'c' created", result.Message);
        var pool = next.Map.FindPool("c")!;
        Assert.Equal(32u, pool.PgNum); // 3 × 100 / 3 / 3 = 33.3 → 32
        Assert.Equal(3, pool.Size);
        Assert.Equal(2, pool.MinSize);
        Assert.Equal(0, pool.CrushRule);
        Assert.Equal(3, pool.Id);
        Assert.Equal(3, next.Map.PoolMax);
        Assert.Equal(state.Map.Epoch + 1, next.Map.Epoch);
        Assert.Equal(128u, next.Map.FindPool("a")!.PgNum); // first pool: 100 → 128
    }

    [Fact]
    public void Pool_create_refusals()
    {
        var state = Ok(WithOsds(3, 1), new PoolCreate("rbd", PgNum: 16));
        var (same, exists) = state.Apply(new PoolCreate("rbd", PgNum: 64));
        Assert.Equal("pool 'rbd' already exists", exists.Message);
        Assert.True(exists.Success);
        Assert.Same(state, same);
        Assert.Equal("Error EINVAL: pool name must not be empty", Refused(state, new PoolCreate("")).Message);
        Assert.Equal("Error EINVAL: pool size must be between 1 and 10", Refused(state, new PoolCreate("x", Size: 11)).Message);
        Assert.Equal("Error EINVAL: pool min_size must be between 1 and size, which is set to 2", Refused(state, new PoolCreate("x", Size: 2, MinSize: 3)).Message);
        Assert.Equal("Error ERANGE: pg_num 0 is invalid; it must be >= 1", Refused(state, new PoolCreate("x", PgNum: 0)).Message);
        Assert.Equal("Error ENOENT: specified rule fast doesn't exist", Refused(state, new PoolCreate("x", Rule: "fast")).Message);
    }

    [Fact]
    public void Pool_ids_are_not_reused_after_delete()
    {
        var state = Ok(WithOsds(3, 1), new SetOption("mon_allow_pool_delete", "true"));
        state = Ok(state, new PoolCreate("a", PgNum: 8));
        state = Ok(state, new PoolDelete("a", "a", true));
        state = Ok(state, new PoolCreate("b", PgNum: 8));
        Assert.Equal(2, state.Map.FindPool("b")!.Id);
    }

    [Fact]
    public void Pool_delete_is_guarded()
    {
        var state = Ok(WithOsds(3, 1), new PoolCreate("rbd", PgNum: 8));
        Assert.Equal(
            "Error EPERM: WARNING: this will *PERMANENTLY DESTROY* all data stored in pool rbd.  If you are *ABSOLUTELY CERTAIN* that is what you want, pass the pool name *twice*, followed by --yes-i-really-really-mean-it.",
            Refused(state, new PoolDelete("rbd", "rbd", false)).Message);
        Assert.StartsWith("Error EPERM: WARNING", Refused(state, new PoolDelete("rbd", "rdb", true)).Message);
        Assert.Equal(
            "Error EPERM: pool deletion is disabled; you must first set the mon_allow_pool_delete config option to true before you can destroy a pool",
            Refused(state, new PoolDelete("rbd", "rbd", true)).Message);

        var allowed = Ok(state, new SetOption("mon_allow_pool_delete", "true"));
        var protectedPool = Ok(allowed, new PoolSet("rbd", "nodelete", "true"));
        Assert.Equal("Error EPERM: pool deletion is disabled; you must unset nodelete flag for the pool first",
            Refused(protectedPool, new PoolDelete("rbd", "rbd", true)).Message);

        var (gone, result) = allowed.Apply(new PoolDelete("rbd", "rbd", true));
        Assert.Equal("pool 'rbd' removed", result.Message);
        Assert.Null(gone.Map.FindPool("rbd"));
        Assert.Equal(allowed.Map.Epoch + 1, gone.Map.Epoch);
        var (same, missing) = gone.Apply(new PoolDelete("rbd", "rbd", true));
        Assert.Equal("pool 'rbd' does not exist", missing.Message);
        Assert.Same(gone, same);
    }

    [Fact]
    public void Pool_set_keys()
    {
        var state = Ok(WithOsds(3, 1), new PoolCreate("rbd", PgNum: 16));
        long e = state.Map.Epoch;
        var (s1, r1) = state.Apply(new PoolSet("rbd", "size", "2"));
        Assert.Equal("set pool 1 size to 2", r1.Message);
        Assert.True(s1.Map.FindPool("rbd") is { Size: 2, MinSize: 1 });
        Assert.Equal(e + 1, s1.Map.Epoch);

        Assert.Equal(3, Ok(state, new PoolSet("rbd", "min_size", "3")).Map.FindPool("rbd")!.MinSize);
        Assert.Same(state, state.Apply(new PoolSet("rbd", "pg_num", "16")).Next);
        Assert.Equal("rbd", Ok(state, new PoolSet("rbd", "application", "rbd")).Map.FindPool("rbd")!.Application);

        var withRule = Ok(state, new CrushAddBucket("ssd", "root"));
        withRule = withRule.Apply(new PoolSet("rbd", "crush_rule", "replicated_rule")).Next;
        Assert.Same(withRule, withRule.Apply(new PoolSet("rbd", "crush_rule", "0")).Next);

        Assert.Equal("Error ENOENT: unrecognized pool 'x'", Refused(state, new PoolSet("x", "size", "2")).Message);
        Assert.Equal("Error EINVAL: pool size must be between 1 and 10", Refused(state, new PoolSet("rbd", "size", "0")).Message);
        Assert.Equal("Error EINVAL: error parsing integer value 'two'", Refused(state, new PoolSet("rbd", "size", "two")).Message);
        Assert.Equal("Error EINVAL: pool min_size must be between 1 and size, which is set to 3", Refused(state, new PoolSet("rbd", "min_size", "4")).Message);
        var split = Ok(state, new PoolSet("rbd", "pg_num", "64")).Map;
        Assert.True(split.FindPool("rbd") is { PgNum: 64 } p && p.SplitEpoch == split.Epoch, "growing pg_num records the split's epoch");
        Assert.Equal(64, split.PgsOf(split.FindPool("rbd")!).Count());
        Assert.StartsWith("Error EOPNOTSUPP: pg_num of pool 'rbd' cannot shrink (16 -> 8)", Refused(state, new PoolSet("rbd", "pg_num", "8")).Message, StringComparison.Ordinal);
        Assert.Equal("Error ERANGE: pg_num 65537 is larger than the limit of 65536 PGs per pool", Refused(state, new PoolSet("rbd", "pg_num", "65537")).Message);
        Assert.Equal("Error ENOENT: crush rule fast does not exist", Refused(state, new PoolSet("rbd", "crush_rule", "fast")).Message);
        Assert.Equal("Error EINVAL: unrecognized variable 'pgp_nun'", Refused(state, new PoolSet("rbd", "pgp_nun", "1")).Message);
    }

    [Fact]
    public void Set_option_validates_known_options()
    {
        var state = Fresh();
        var (next, result) = state.Apply(new SetOption("mon_allow_pool_delete", "true"));
        Assert.Equal("set mon_allow_pool_delete = true", result.Message);
        Assert.True(next.Map.Options.MonAllowPoolDelete);
        Assert.Equal(state.Map.Epoch + 1, next.Map.Epoch);
        Assert.Same(next, next.Apply(new SetOption("mon_allow_pool_delete", "true")).Next);
        Assert.Equal("Error EINVAL: mon_allow_pool_delete: 'maybe' is not a boolean (true or false)",
            Refused(state, new SetOption("mon_allow_pool_delete", "maybe")).Message);
        Assert.Equal("Error EINVAL: mon_osd_down_out_interval: '-5' is not a number of seconds >= 0",
            Refused(state, new SetOption("mon_osd_down_out_interval", "-5")).Message);
        Assert.Equal("Error EINVAL: invalid option name 'Bad Name' (lowercase letters, digits and '_')",
            Refused(state, new SetOption("Bad Name", "1")).Message);
        var custom = Ok(state, new SetOption("osd_max_backfills", "2"));
        Assert.Equal(2, custom.Map.Options.GetInt64("osd_max_backfills", 1));
        Assert.Equal(1.0, custom.Map.Options.GetDouble("missing", 1.0));
    }

    [Fact]
    public void Crush_add_bucket_and_move()
    {
        var state = WithOsds(2, 1);
        var (s1, r1) = state.Apply(new CrushAddBucket("rack1", "rack"));
        Assert.Equal("added bucket rack1 type rack to crush map", r1.Message);
        Assert.Equal(state.Map.Epoch + 1, s1.Map.Epoch);
        Assert.Null(s1.Map.Crush.ParentOf(s1.Map.Crush.FindBucket("rack1")!.Id));
        Assert.Equal("bucket 'rack1' already exists", s1.Apply(new CrushAddBucket("rack1", "rack")).Result.Message);
        Assert.Equal("Error EINVAL: type 'row' does not exist", Refused(s1, new CrushAddBucket("row1", "row")).Message);

        var (s2, r2) = s1.Apply(new CrushMove("rack1", "root=default"));
        int rackId = s2.Map.Crush.FindBucket("rack1")!.Id;
        Assert.Equal($"moved item id {rackId} name 'rack1' to location {{root=default}} in crush map", r2.Message);
        var s3 = Ok(s2, new CrushMove("host1", "rack1"));
        Assert.Equal(rackId, s3.Map.Crush.ParentOf(s3.Map.Crush.FindBucket("host1")!.Id));
        Assert.Equal(1.0, s3.Map.Crush.WeightOf(rackId));
        Assert.Equal($"no need to move item id {rackId} name 'rack1' to location {{root=default}} in crush map",
            s3.Apply(new CrushMove("rack1", "default")).Result.Message);

        var s4 = Ok(s3, new CrushMove("osd.0", "host1"));
        Assert.Equal("host1", s4.Map.FindOsd(0)!.Host);
        Assert.Equal(s4.Map.Crush.FindBucket("host1")!.Id, s4.Map.Crush.ParentOf(0));

        Assert.Equal("Error ENOENT: item rack9 does not exist", Refused(s3, new CrushMove("rack9", "default")).Message);
        Assert.Equal("Error ENOENT: bucket 'dc1' does not exist", Refused(s3, new CrushMove("rack1", "datacenter=dc1")).Message);
        Assert.Equal("Error EINVAL: bucket 'rack1' cannot move under 'host1', which is inside it",
            Refused(s3, new CrushMove("rack1", "host1")).Message);
    }

    [Fact]
    public void Auth_add_get_or_create_caps_remove()
    {
        var state = Fresh();
        var caps = Caps(("mon", "profile rbd"), ("osd", "profile rbd pool=rbd"));
        var (s1, r1) = state.Apply(new AuthAdd("client.glance", Key(1), caps));
        Assert.Equal("added key for client.glance", r1.Message);
        Assert.Equal(Key(1), r1.Output);
        Assert.Equal(state.Map.Epoch, s1.Map.Epoch); // auth is not in the map
        Assert.Equal(1, s1.AuthVersion);
        var entry = s1.Auth.Find(EntityName.Parse("client.glance"))!;
        Assert.True(entry.Caps.Allows("osd", CapOp.Write, "rbd"));

        var (s2, r2) = s1.Apply(new AuthGetOrCreate("client.glance", Key(2), caps));
        Assert.Same(s1, s2);
        Assert.Equal(Key(1), r2.Output); // existing key, not the new one
        Assert.Equal("Error EINVAL: key for client.glance exists but cap osd does not match",
            Refused(s1, new AuthGetOrCreate("client.glance", Key(2), Caps(("mon", "profile rbd")))).Message);
        Assert.Equal("Error EINVAL: entity client.glance exists but cap mon does not match",
            Refused(s1, new AuthAdd("client.glance", Key(2), Caps(("mon", "allow r"), ("osd", "profile rbd pool=rbd")))).Message);

        var (s3, r3) = s1.Apply(new AuthGetOrCreate("client.cinder", Key(3), Caps(("mon", "allow r"))));
        Assert.Equal(Key(3), r3.Output);
        Assert.Equal(2, s3.AuthVersion);

        var (s4, r4) = s3.Apply(new AuthCaps("client.cinder", Caps(("osd", "allow rwx pool=volumes"))));
        Assert.Equal("updated caps for client.cinder", r4.Message);
        var cinder = s4.Auth.Find(EntityName.Parse("client.cinder"))!;
        Assert.Null(cinder.Caps["mon"]);
        Assert.True(cinder.Caps.Allows("osd", CapOp.Write, "volumes"));
        Assert.Equal("Error ENOENT: couldn't find entry client.nobody", Refused(s4, new AuthCaps("client.nobody", Caps())).Message);

        var (s5, r5) = s4.Apply(new AuthRemove("client.cinder"));
        Assert.Equal("updated", r5.Message);
        Assert.Null(s5.Auth.Find(EntityName.Parse("client.cinder")));
        var (s6, r6) = s5.Apply(new AuthRemove("client.cinder"));
        Assert.Equal("entity client.cinder does not exist", r6.Message);
        Assert.Same(s5, s6);

        Assert.Equal("Error EINVAL: entity name 'bob' is not type.id (e.g. client.admin)", Refused(state, new AuthAdd("bob", Key(), Caps())).Message);
        Assert.Equal("Error EINVAL: osd caps 'allow rwz': unknown permission 'z'", Refused(state, new AuthAdd("client.x", Key(), Caps(("osd", "allow rwz")))).Message);
        Assert.Equal("Error EINVAL: client.x: key is not base64", Refused(state, new AuthAdd("client.x", "not base64!", Caps())).Message);
        Assert.Equal("Error EINVAL: client.x: key of 4 bytes (expected 16-64)", Refused(state, new AuthAdd("client.x", "AAAAAA==", Caps())).Message);
    }

    [Fact]
    public void Self_managed_snapshots()
    {
        var state = Ok(WithOsds(3, 1), new PoolCreate("rbd", PgNum: 8));
        var (s1, r1) = state.Apply(new SnapCreate("rbd"));
        Assert.Equal("1", r1.Output);
        Assert.Equal("created snap 1 in pool 'rbd'", r1.Message);
        Assert.Equal(state.Map.Epoch + 1, s1.Map.Epoch);
        var s2 = Ok(s1, new SnapCreate("rbd"));
        Assert.Equal("3", s2.Apply(new SnapCreate("rbd")).Result.Output);
        var pool = s2.Map.FindPool("rbd")!;
        Assert.Equal(2ul, pool.SnapSeq);
        Assert.True(pool.Flags.HasFlag(PoolFlags.SelfManagedSnaps));

        var (s3, r3) = s2.Apply(new SnapRemove("rbd", 1));
        Assert.Equal("removed snap 1 from pool 'rbd'", r3.Message);
        Assert.Equal([1ul], s3.Map.FindPool("rbd")!.RemovedSnaps);
        Assert.Equal(2ul, s3.Map.FindPool("rbd")!.SnapSeq);
        Assert.Same(s3, s3.Apply(new SnapRemove("rbd", 1)).Next);
        Assert.Equal("Error ENOENT: snap 3 does not exist in pool 'rbd'", Refused(s3, new SnapRemove("rbd", 3)).Message);
        Assert.Equal("Error ENOENT: snap 0 does not exist in pool 'rbd'", Refused(s3, new SnapRemove("rbd", 0)).Message);
        Assert.Equal("Error ENOENT: unrecognized pool 'x'", Refused(s3, new SnapCreate("x")).Message);
        Assert.Equal("Error ENOENT: unrecognized pool 'x'", Refused(s3, new SnapRemove("x", 1)).Message);

        Assert.Equal(state.Map.Epoch, state.Map.FindPool("rbd")!.CreatedEpoch);

        // Publishing counts up, each time a new epoch the OSDs check guarded writes against.
        var (s4, r4) = s3.Apply(new SnapPublish("rbd"));
        Assert.Equal("1", r4.Output);
        var s5 = Ok(s4, new SnapPublish("rbd"));
        Assert.Equal(2ul, s5.Map.FindPool("rbd")!.SnapGeneration);
        Assert.Equal(s3.Map.Epoch + 2, s5.Map.Epoch);
        Assert.Equal("Error ENOENT: unrecognized pool 'x'", Refused(s5, new SnapPublish("x")).Message);
    }

    [Fact]
    public void Every_map_change_bumps_the_epoch_by_one_and_refusals_change_nothing()
    {
        var state = Fresh();
        foreach (var command in Script())
        {
            var (next, result) = state.Apply(command);
            if (!result.Success)
                Assert.Same(state, next);
            else if (!ReferenceEquals(next.Map, state.Map))
                Assert.Equal(state.Map.Epoch + 1, next.Map.Epoch);
            else
                Assert.Equal(state.Map.Epoch, next.Map.Epoch);
            state = next;
        }
    }

    [Fact]
    public void Pg_activations_are_recorded_only_for_the_current_acting_set_and_follow_splits_and_deletes()
    {
        var state = Ok(WithOsds(4, 1), new PoolCreate("rbd", PgNum: 4));
        var pool = state.Map.FindPool("rbd")!;
        var pg = new Rampart.Rados.Placement.PgId(pool.Id, 1);
        int[] up = state.Map.UpSet(pg);
        long epoch = state.Map.Epoch;
        var current = new PgActivation(pool.Id, 1, epoch, up);
        var deposed = new PgActivation(pool.Id, 2, epoch, [.. state.Map.UpSet(pg with { Seed = 2 }).Reverse()]);

        var (next, result) = state.Apply(new PgActivate(up[0], [current, deposed, current with { Seed = 9 }]));
        Assert.Equal("100", result.Output);
        Assert.Equal(epoch, next.Map.Epoch); // the map clients see does not change
        Assert.True(next.Activations[pg].SameAs(current));
        Assert.Single(next.Activations);
        Assert.Equal("0", next.Apply(new PgActivate(up[1], [current])).Result.Output); // only the primary records

        var read = next.Apply(new PgActivations([new PgRef(pool.Id, 1), new PgRef(pool.Id, 3)]));
        Assert.Same(next, read.Next);
        var found = Assert.Single(MonitorState.DecodeActivations(read.Result.Output!));
        Assert.True(found.SameAs(current));

        // A split PG's children start from their parent's record; a deleted pool's records go.
        var split = Ok(next, new PoolSet("rbd", "pg_num", "8"));
        Assert.True(split.Activations[pg with { Seed = 5 }].SameAs(current with { Seed = 5 }));
        Assert.Equal(2, split.Activations.Count);
        var restored = MonitorState.Restore(split.Snapshot());
        Assert.Equal(split, restored);
        Assert.NotEqual(split, next);
        var gone = Ok(Ok(split, new SetOption("mon_allow_pool_delete", "true")), new PoolDelete("rbd", "rbd", true));
        Assert.Empty(gone.Activations);

        // A member declared lost is no longer waited for; with none left the record goes.
        Assert.Equal($"Error EBUSY: osd.{up[1]} is not down", Refused(split, new OsdLost(up[1], true)).Message);
        var down = Ok(split, new OsdMarkDown(up[1], "test", T0));
        Assert.StartsWith("Error EPERM: are you SURE?", Refused(down, new OsdLost(up[1], false)).Message, StringComparison.Ordinal);
        var lost = Ok(down, new OsdLost(up[1], true));
        Assert.Equal(down.Map.Epoch + 1, lost.Map.Epoch); // waiting PGs peer again
        Assert.Equal(up.Where(o => o != up[1]), lost.Activations[pg].Acting);
        foreach (int other in up.Where(o => o != up[1]))
            lost = Ok(Ok(lost, new OsdMarkDown(other, "test", T0)), new OsdLost(other, true));
        Assert.False(lost.Activations.ContainsKey(pg));
    }

    [Fact]
    public void Snapshot_restore_gives_an_equal_state()
    {
        var state = Fresh().ApplyAll(Script()).Final;
        byte[] snapshot = state.Snapshot();
        var restored = MonitorState.Restore(snapshot);
        Assert.Equal(state, restored);
        Assert.Equal(snapshot, restored.Snapshot());
        Assert.Equal(2, restored.Auth.Count);
        Assert.Equal(state.AuthVersion, restored.AuthVersion);

        // A restored state keeps applying the same way.
        var command = new PoolCreate("after", PgNum: 8);
        Assert.Equal(state.Apply(command).Next.Snapshot(), restored.Apply(command).Next.Snapshot());

        Assert.Equal("monitor snapshot: no data (0 bytes)", Assert.Throws<MapFormatException>(() => MonitorState.Restore([])).Message);
        Assert.StartsWith("monitor snapshot: malformed data: ", Assert.Throws<MapFormatException>(() => MonitorState.Restore([1, 0x7b])).Message);
    }

    [Fact]
    public void Replaying_the_same_commands_gives_byte_identical_snapshots()
    {
        var commands = Script();
        // Commands travel through the Raft log as bytes.
        var decoded = commands.Select(c => MonCommandCodec.Decode(MonCommandCodec.Encode(c))).ToList();
        var a = Fresh().ApplyAll(commands);
        var b = Fresh().ApplyAll(decoded);
        Assert.Equal(a.Final.Snapshot(), b.Final.Snapshot());
        Assert.Equal(a.Results, b.Results);
        Assert.Equal(commands.Count, a.Results.Count);
        Assert.False(a.Results[^2].Success); // the refused PoolSet
    }
}
