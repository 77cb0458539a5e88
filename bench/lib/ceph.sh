# bench/lib/ceph.sh: a throw-away Ceph Pacific cluster (from apt) for the benchmarks, sourced by bench/rados
# and bench/rbd. 1 monitor (a), 1 manager (x), 3 BlueStore OSDs on sparse files, everything on 127.0.0.1 and
# under one directory: nothing in /etc/ceph or /var/lib/ceph is used, so it cannot meet a real cluster.
# One host, so the CRUSH failure domain is the OSD; pools are size 3, min_size 2, no PG autoscaling (the
# pg_num under test stays fixed).
#
#   ceph_start DIR OSD_BYTES [V2PORT V1PORT]   write DIR/ceph.conf, start the daemons; sets $cconf and $CEPH
#       With ceph_hub_ns and ceph_osd_ns set (network namespaces the caller made, see bench/rados' cut phase), the
#       monitor, manager and $CEPH run in namespace $ceph_hub_ns at $ceph_mon_ip, and OSD N in namespace
#       ${ceph_osd_ns}N at ${ceph_osd_ip_prefix}N: each OSD is its own host on the network.
#   ceph_pool NAME PG_NUM                      a replicated pool, size 3, min_size 2
#   ceph_wait_clean SECONDS                    until every PG is active+clean (1 on timeout)
#   ceph_daemon_pids                           the pids of the daemons started here
#   ceph_stop                                  kill -9 every daemon started from DIR (also half-started ones)

ceph_pkgs() {  # the apt packages missing for the commands used here
    local t
    for t in ceph-mon:ceph-mon ceph-osd:ceph-osd ceph-mgr:ceph-mgr ceph:ceph-common rbd:ceph-common \
             uuidgen:uuid-runtime python3:python3; do
        command -v "${t%%:*}" >/dev/null || echo "${t##*:}"
    done | sort -u
}

ceph_in_hub() { if [ -n "${ceph_hub_ns:-}" ]; then ip netns exec "$ceph_hub_ns" "$@"; else "$@"; fi; }
ceph_osd() {  # ceph_osd ID ARGS...: ceph-osd for OSD ID, in its namespace and with its address when there are namespaces
    local id=$1; shift
    if [ -n "${ceph_osd_ns:-}" ]; then
        ip netns exec "$ceph_osd_ns$id" ceph-osd -c "$cconf" -i "$id" --public-addr "$ceph_osd_ip_prefix$id" --cluster-addr "$ceph_osd_ip_prefix$id" "$@"
    else ceph-osd -c "$cconf" -i "$id" "$@"; fi
}

ceph_start() {
    local d=$1 osd_bytes=$2 v2=${3:-13300} v1=${4:-16789} fsid n ip=${ceph_mon_ip:-127.0.0.1}
    fsid=$(uuidgen)
    cconf=$d/ceph.conf
    CEPH="ceph_in_hub ceph -c $cconf"
    mkdir -p "$d/run" "$d/log" "$d/tmp" "$d/mon.a" "$d/mgr.x"
    cat > "$cconf" <<CONF
[global]
fsid = $fsid
mon_initial_members = a
mon_host = [v2:$ip:$v2,v1:$ip:$v1]
public_addr = $ip
cluster_addr = $ip
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $d/run
pid_file = $d/run/\$name.pid
log_file = $d/log/\$name.log
crash_dir = $d/tmp
mon_cluster_log_file = default=$d/log/\$cluster.\$channel.log cluster=$d/log/\$cluster.log
osd_crush_chooseleaf_type = 0
osd_pool_default_size = 3
osd_pool_default_min_size = 2
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
# 2 cores, shared machine: modest OSD memory
osd_memory_target = 1073741824
[mon]
mon_data = $d/mon.\$id
keyring = \$mon_data/keyring
[mgr]
mgr_data = $d/mgr.\$id
keyring = \$mgr_data/keyring
[osd]
osd_data = $d/osd.\$id
keyring = \$osd_data/keyring
osd_objectstore = bluestore
# the block device is a sparse file created at mkfs: only written data takes disk space
bluestore_block_create = true
bluestore_block_size = $osd_bytes
[client]
keyring = $d/ceph.client.admin.keyring
log_file = $d/log/client.log
CONF
    ceph-authtool --create-keyring "$d/tmp/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$d/ceph.client.admin.keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
    ceph-authtool "$d/tmp/mon.keyring" --import-keyring "$d/ceph.client.admin.keyring" >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:$ip:$v2,v1:$ip:$v1]" "$d/tmp/monmap" >/dev/null
    ceph-mon -c "$cconf" --mkfs -i a --monmap "$d/tmp/monmap" --keyring "$d/tmp/mon.keyring"
    ceph_in_hub ceph-mon -c "$cconf" -i a
    ceph_until 60 eval '$CEPH mon stat >/dev/null 2>&1' || return 1
    $CEPH auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' -o "$d/mgr.x/keyring"
    ceph_in_hub ceph-mgr -c "$cconf" -i x
    for n in 0 1 2; do
        local uuid secret id
        uuid=$(uuidgen); secret=$(ceph-authtool --gen-print-key)
        id=$(echo "{\"cephx_secret\": \"$secret\"}" | $CEPH osd new "$uuid" -i -)
        mkdir -p "$d/osd.$id"
        ceph-authtool --create-keyring "$d/osd.$id/keyring" --name "osd.$id" --add-key "$secret" >/dev/null
        ceph_osd "$id" --mkfs --osd-uuid "$uuid" --osd-objectstore bluestore >"$d/log/osd.$id.mkfs.log" 2>&1   # asks the monitor
        ceph_osd "$id"
    done
    ceph_until 120 eval '$CEPH osd stat 2>/dev/null | grep -q "3 up"' || return 1
}

ceph_pool() {
    $CEPH osd pool create "$1" "$2" "$2" replicated >/dev/null
    $CEPH osd pool set "$1" pg_autoscale_mode off >/dev/null
    $CEPH osd pool set "$1" size 3 >/dev/null
    $CEPH osd pool set "$1" min_size 2 >/dev/null
}

ceph_clean() {
    $CEPH pg stat -f json 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin); s=d.get("pg_summary",d)
tot=s.get("num_pgs",0); clean=sum(x["num"] for x in s.get("num_pg_by_state",[]) if x["name"]=="active+clean")
sys.exit(0 if tot>0 and clean==tot else 1)'
}
ceph_until() { local t0 limit=$1; shift; t0=$(date +%s); until "$@"; do [ $(( $(date +%s) - t0 )) -lt "$limit" ] || return 1; sleep 0.5; done; }
ceph_wait_clean() { ceph_until "$1" ceph_clean; }

ceph_daemon_pids() { local f; for f in "${cconf%/*}"/run/*.pid; do [ -f "$f" ] && cat "$f"; done; }

# The daemons fork into the background, so they are found by pid file and, for one killed while starting
# (no pid file yet), by their own ceph.conf path on the command line: a path under our temporary directory.
ceph_stop() {
    [ -n "${cconf:-}" ] || return 0
    local p
    for p in $(ceph_daemon_pids) $(pids_with_arg "$cconf"); do kill -9 "$p" 2>/dev/null || true; done
}

# pids_with_arg TEXT: the processes whose command line contains TEXT (a unique temporary path)
pids_with_arg() {
    local p
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != "$$" ] && grep -qsF -- "$1" "$p/cmdline" && echo "${p#/proc/}"
    done
    return 0
}
