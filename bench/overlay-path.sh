#!/bin/bash
# One iperf3 TCP stream through one overlay data-path variant between two simulated hosts
# (namespaces swyx*, made and deleted here), in Gbit/s. Run by bench/overlay-paths.sh.
#   direct   a VXLAN device in each sandbox namespace (the hand-built pair of bench/overlay.ts)
#   bridge   veth + bridge + VXLAN in a network namespace (Docker's overlay; Switchyard's
#            before 2026-12-03), br_netfilter's detour on; bridge0: with it off (Switchyard's now)
#   fwd      veth + nftables netdev ingress `fwd` to/from the VXLAN device, no bridge, with a
#            source check per port (AS-like); NOCHK=1: the same without the check
#   macvlan  a macvlan (bridge mode) on the VXLAN device, moved into the sandbox: no veth, no
#            bridge, and no place outside the sandbox that knows which port a frame came from
# AS=1 (bridge, bridge0): a bridge-family source check like Switchyard's anti-spoofing table;
# EMPTY=1: a bridge-family prerouting chain with no rule (what the hook alone costs); ND=1: the
# source check as a netdev ingress chain on the sandbox's port, constants instead of set look-ups.
set -e
MODE=$1
P=swyx
cleanup() { for n in ${P}hA ${P}hB ${P}oA ${P}oB ${P}sA ${P}sB; do ip netns del $n 2>/dev/null || true; done; }
cleanup
for n in hA hB sA sB oA oB; do ip netns add ${P}$n; ip -n ${P}$n link set lo up; done
ip link add ${P}ua netns ${P}hA type veth peer name ${P}ub netns ${P}hB
ip -n ${P}hA addr add 192.168.77.1/24 dev ${P}ua; ip -n ${P}hA link set ${P}ua up
ip -n ${P}hB addr add 192.168.77.2/24 dev ${P}ub; ip -n ${P}hB link set ${P}ub up
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
  macvlan)
    ip -n ${P}h$h link set vx0 netns ${P}o$h
    ip -n ${P}o$h link set vx0 mtu 1450 up
    ip -n ${P}o$h link add mv$h link vx0 type macvlan mode bridge
    ip -n ${P}o$h link set mv$h netns ${P}s$h
    ip -n ${P}s$h link set mv$h name eth0
    ip -n ${P}s$h link set eth0 address 02:00:00:00:00:0$i mtu 1450
    ip -n ${P}s$h addr add $ip_/24 dev eth0; ip -n ${P}s$h link set eth0 up
    ;;
  fwd)
    ip -n ${P}h$h link set vx0 netns ${P}o$h
    ip -n ${P}o$h link set vx0 mtu 1450 up
    ip -n ${P}o$h link add ve$h type veth peer name eth0 netns ${P}s$h
    ip -n ${P}o$h link set ve$h mtu 1450 up
    ip -n ${P}s$h link set eth0 address 02:00:00:00:00:0$i mtu 1450
    ip -n ${P}s$h addr add $ip_/24 dev eth0; ip -n ${P}s$h link set eth0 up
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
