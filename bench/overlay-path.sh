#!/bin/bash
# One iperf3 TCP stream through one overlay data-path variant between two simulated hosts
# (namespaces swyx*, made and deleted here), in Gbit/s. Run by bench/overlay-paths.sh.
#   direct   a VXLAN device in each sandbox namespace (the hand-built pair of bench/overlay.ts)
#   bridge   veth + bridge + VXLAN in a network namespace (Docker's overlay; Switchyard's
#            before 2026-12-03), br_netfilter's detour on; bridge0: with it off (Switchyard's now)
#   fwd      veth + nftables netdev ingress `fwd` to/from the VXLAN device, no bridge, with a
#            source check per port (AS-like); NOCHK=1: the same without the check
#   bpf      veth + tc programs, no bridge: the port's ingress checks the source (MAC, ARP or
#            IPv4 from its address) and redirects to the VXLAN device; the VXLAN device's ingress
#            redirects into the sandbox with bpf_redirect_peer (bench/tc-redirect.ts)
#   macvlan  a macvlan (bridge mode) on the VXLAN device, moved into the sandbox: no veth, no
#            bridge, and no place outside the sandbox that knows which port a frame came from;
#            EG=1: the source check as a netdev *egress* chain on the macvlan, in the sandbox's
#            namespace (only its CAP_NET_ADMIN could remove it)
#   mvbr     the same macvlan on a bridge that has the VXLAN device as a port (EG=1 as above)
# AS=1 (bridge, bridge0): a bridge-family source check like Switchyard's anti-spoofing table;
# EMPTY=1: a bridge-family prerouting chain with no rule (what the hook alone costs); ND=1: the
# source check as a netdev ingress chain on the sandbox's port, constants instead of set look-ups.
set -e
MODE=$1
here=$(cd "$(dirname "$0")" && pwd)
P=swyx
cleanup() { for n in ${P}hA ${P}hB ${P}oA ${P}oB ${P}sA ${P}sB; do ip netns del $n 2>/dev/null || true; done; }
cleanup
for n in hA hB sA sB oA oB; do ip netns add ${P}$n; ip -n ${P}$n link set lo up; done
ip link add ${P}ua netns ${P}hA type veth peer name ${P}ub netns ${P}hB
ip -n ${P}hA addr add 192.168.77.1/24 dev ${P}ua; ip -n ${P}hA link set ${P}ua up
ip -n ${P}hB addr add 192.168.77.2/24 dev ${P}ub; ip -n ${P}hB link set ${P}ub up
# The VXLAN device in the network namespace and a veth from there into the sandbox, no bridge.
veth_port() {
  ip -n ${P}h$h link set vx0 netns ${P}o$h
  ip -n ${P}o$h link set vx0 mtu 1450 up
  ip -n ${P}o$h link add ve$h type veth peer name eth0 netns ${P}s$h
  ip -n ${P}o$h link set ve$h mtu 1450 up
  ip -n ${P}s$h link set eth0 address 02:00:00:00:00:0$i mtu 1450
  ip -n ${P}s$h addr add $ip_/24 dev eth0; ip -n ${P}s$h link set eth0 up
}
i=0
for h in A B; do
  i=$((i+1)); me=192.168.77.$i; peer=192.168.77.$((3-i)); ip_=10.99.0.$i
  ip -n ${P}h$h link add vx0 type vxlan id 42 local $me dstport 4789 dev ${P}u$( [ $h = A ] && echo a || echo b) learning
  case $MODE in
  direct)
    ip -n ${P}h$h link set vx0 netns ${P}s$h
    ip -n ${P}s$h link set vx0 address 02:00:00:00:00:0$i
    ip -n ${P}s$h addr add $ip_/24 dev vx0; ip -n ${P}s$h link set vx0 mtu 1450 up
    ;;
  bridge|bridge0)
    [ $MODE = bridge0 ] && ip netns exec ${P}o$h sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
    ip -n ${P}h$h link set vx0 netns ${P}o$h
    ip -n ${P}o$h link add br0 type bridge; ip -n ${P}o$h link set br0 up
    ip -n ${P}o$h link set vx0 master br0 mtu 1450 up
    ip -n ${P}o$h link add ve$h type veth peer name eth0 netns ${P}s$h
    ip -n ${P}o$h link set ve$h master br0 mtu 1450 up
    ip -n ${P}s$h link set eth0 address 02:00:00:00:00:0$i mtu 1450
    ip -n ${P}s$h addr add $ip_/24 dev eth0; ip -n ${P}s$h link set eth0 up
    if [ -n "$AS" ]; then ip netns exec ${P}o$h nft -f - <<NFT
table bridge sw {
  set ports { type ifname; elements = { "ve$h" } }
  set mac { type ifname . ether_addr; elements = { "ve$h" . 02:00:00:00:00:0$i } }
  set ip4 { type ifname . ether_addr . ipv4_addr; elements = { "ve$h" . 02:00:00:00:00:0$i . $ip_ } }
  chain check {
    iifname . ether saddr != @mac drop
    ether type != { arp, ip, ip6 } drop
    ether type arp arp saddr ip != 0.0.0.0 iifname . arp saddr ether . arp saddr ip != @ip4 drop
    ether type ip iifname . ether saddr . ip saddr != @ip4 drop
  }
  chain pre { type filter hook prerouting priority -300; policy accept;
    iifname @ports jump check
    iifname "syo*" iifname != @ports drop
  }
}
NFT
    fi
    if [ -n "$EMPTY" ]; then ip netns exec ${P}o$h nft -f - <<NFT
table bridge sw {
  chain pre { type filter hook prerouting priority -300; policy accept; }
}
NFT
    fi
    if [ -n "$ND" ]; then ip netns exec ${P}o$h nft -f - <<NFT
table netdev sw {
  chain port { type filter hook ingress device "ve$h" priority -300; policy accept;
    ether saddr != 02:00:00:00:00:0$i drop
    ether type != { arp, ip, ip6 } drop
    ether type arp arp saddr ether != 02:00:00:00:00:0$i drop
    ether type arp arp saddr ip != $ip_ drop
    ether type ip ip saddr != $ip_ drop
  }
}
NFT
    fi
    ;;
  macvlan|mvbr)
    ip -n ${P}h$h link set vx0 netns ${P}o$h
    ip -n ${P}o$h link set vx0 mtu 1450 up
    low=vx0
    if [ $MODE = mvbr ]; then
      ip netns exec ${P}o$h sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
      ip -n ${P}o$h link add br0 type bridge; ip -n ${P}o$h link set br0 mtu 1450 up
      ip -n ${P}o$h link set vx0 master br0; low=br0
    fi
    ip -n ${P}o$h link add mv$h link $low type macvlan mode bridge
    ip -n ${P}o$h link set mv$h netns ${P}s$h
    ip -n ${P}s$h link set mv$h name eth0
    ip -n ${P}s$h link set eth0 address 02:00:00:00:00:0$i mtu 1450
    ip -n ${P}s$h addr add $ip_/24 dev eth0; ip -n ${P}s$h link set eth0 up
    if [ -n "$EG" ]; then ip netns exec ${P}s$h nft -f - <<NFT
table netdev sw {
  set mac { type ether_addr; elements = { 02:00:00:00:00:0$i } }
  set ip4 { type ether_addr . ipv4_addr; elements = { 02:00:00:00:00:0$i . $ip_ } }
  chain port { type filter hook egress device "eth0" priority -300; policy accept;
    ether saddr != @mac drop
    ether type != { arp, ip, ip6 } drop
    ether type arp arp saddr ip != 0.0.0.0 arp saddr ether . arp saddr ip != @ip4 drop
    ether type ip ether saddr . ip saddr != @ip4 drop
  }
}
NFT
    fi
    ;;
  bpf)
    veth_port
    ifindex() { ip -n ${P}o$h -j link show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])'; }
    vxi=$(ifindex vx0); vei=$(ifindex ve$h)
    # Pinned on a bpf file system mounted in a private mount namespace: nothing is left on the
    # host's; the attached filters keep the programs alive.
    fs=$(mktemp -d /tmp/swyx-bpf.XXXXXX)
    unshare -m sh -ec "mount -t bpf bpf $fs
      node $here/../dist/bench/tc-redirect.js tx $fs/tx $vxi 02:00:00:00:00:0$i $ip_
      node $here/../dist/bench/tc-redirect.js rx $fs/rx $vei
      ip netns exec ${P}o$h tc qdisc add dev ve$h clsact
      ip netns exec ${P}o$h tc qdisc add dev vx0 clsact
      ip netns exec ${P}o$h tc filter add dev ve$h ingress bpf da object-pinned $fs/tx
      ip netns exec ${P}o$h tc filter add dev vx0 ingress bpf da object-pinned $fs/rx"
    rmdir "$fs"
    ;;
  fwd)
    veth_port
    ip netns exec ${P}o$h nft -f - <<NFT
table netdev t {
  chain fromsb { type filter hook ingress device "ve$h" priority 0; ${NOCHK:+fwd to "vx0";} ether saddr 02:00:00:00:00:0$i ip saddr $ip_ fwd to "vx0"; ether type arp fwd to "vx0"; drop; }
  chain fromvx { type filter hook ingress device "vx0" priority 0; ether daddr { 02:00:00:00:00:0$i, ff:ff:ff:ff:ff:ff } fwd to "ve$h"; drop; }
}
NFT
    ;;
  esac
  mac_peer=02:00:00:00:00:0$((3-i))
  dev=$( [ $MODE = direct ] && echo ${P}s$h || echo ${P}o$h )
  ip -n $dev link set vx0 type vxlan 2>/dev/null || true
  bridge -n $dev fdb append 00:00:00:00:00:00 dev vx0 dst $peer
  bridge -n $dev fdb add $mac_peer dev vx0 dst $peer
  ip -n ${P}s$h neigh add 10.99.0.$((3-i)) lladdr $mac_peer dev $( [ $MODE = direct ] && echo vx0 || echo eth0 ) nud permanent
done
ip netns exec ${P}sA ping -c2 -W1 10.99.0.2 >/dev/null
ip netns exec ${P}sB iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
sleep 0.5
ip netns exec ${P}sA iperf3 -c 10.99.0.2 -p 5299 -t ${SECS:-4} -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
wait
cleanup
